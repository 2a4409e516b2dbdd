#pragma once
// Requests to an upstream on behalf of a client, and relaying what it answered: the paths that
// do not enter the cache (tags/list, HEAD misses, errors, non-sha256 digests).
#include <string>
#include <string_view>

#include "core/task.h"
#include "http/message_head.h"
#include "http/upstream_exchange.h"
#include "registry/serve/client_connection.h"
#include "registry/upstream/upstream_router.h"

namespace regcache::registry {

// An upstream answer read whole into memory (manifests, error bodies).
struct SmallResponse {
  int rc = 0;             // < 0: no usable answer (error says why)
  bool too_large = false; // the body passed the limit; body holds a prefix
  http::ResponseFields fields;
  std::string body;
  std::string error;
};

core::Task<void> fetch_small(WorkerContext &worker, const http::Endpoint &endpoint,
                             const http::UpstreamRequest &request, uint64_t body_bytes_max,
                             SmallResponse &out);

// The same for a registry request: with the credentials the upstream asks for.
core::Task<void> fetch_small_authorized(WorkerContext &worker, const UpstreamChoice &upstream,
                                        std::string_view method, std::string_view target,
                                        std::span<const http::Header> headers,
                                        uint64_t body_bytes_max, SmallResponse &out);

// The Accept headers of a client request, to forward upstream.
size_t collect_accept_headers(const http::RequestHead &head, std::span<http::Header> out);

// Forwards the client's GET/HEAD to the upstream and streams the answer back as it is.
core::Task<void> relay_request(ClientConnection &client, const http::RequestHead &head,
                               const UpstreamChoice &upstream, std::string_view target,
                               std::span<const http::Header> headers);

// Sends an upstream answer (status, its meaningful headers, the body) to the client.
core::Task<int> send_upstream_answer(ClientConnection &client, const http::ResponseFields &fields,
                                     std::string_view body);

// 502 with an OCI error body; the detail names the upstream problem (never a secret).
core::Task<int> send_upstream_unavailable(ClientConnection &client, std::string_view error);

// An upstream request that got no usable answer: 401 UNAUTHORIZED when the upstream (or its
// token server) refused regcache's credentials (-EACCES), else 502.
core::Task<int> send_upstream_failure(ClientConnection &client, int rc, std::string_view error);

// True for answers that mean "the upstream cannot help right now" (stale-if-error applies).
inline bool upstream_unhealthy(uint16_t status) {
  return status == 429 || status >= 500;
}

} // namespace regcache::registry

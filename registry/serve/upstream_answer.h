#pragma once
// What an upstream answered, passed on to a client: the paths that do not enter the cache
// (tags/list, HEAD misses, errors, non-sha256 digests) and the error answers of those that do.
#include <span>
#include <string_view>

#include "core/task.h"
#include "http/message_head.h"
#include "http/upstream_exchange.h"
#include "registry/serve/client_connection.h"
#include "registry/upstream/upstream_router.h"

namespace regcache::registry {

// The Accept headers of a client request, to forward upstream.
size_t collect_accept_headers(const http::RequestHead &request, std::span<http::Header> out);

// Forwards the client's GET/HEAD to the upstream and streams the answer back as it is.
core::Task<void> relay_request(ClientConnection &client, const http::RequestHead &request,
                               const UpstreamChoice &upstream, std::string_view target,
                               std::span<const http::Header> headers);

// Streams the answer of a started exchange to the client: status, the meaningful headers and
// `extra_headers`, then the body as it comes (a cut-off body resets the client).
core::Task<void> relay_answer(ClientConnection &client, http::UpstreamExchange &exchange,
                              std::span<const http::Header> extra_headers);

// Sends an upstream answer held in memory (status, its meaningful headers, the body).
core::Task<int> send_upstream_answer(ClientConnection &client, const http::ResponseFields &fields,
                                     std::string_view body);

// 502 with an OCI error body; the detail names the upstream problem (never a secret).
core::Task<int> send_upstream_unavailable(ClientConnection &client, std::string_view error);

// 403 DENIED for a registry this client may not reach; the same answer whatever the reason.
core::Task<int> send_registry_denied(ClientConnection &client);

// 503 with Retry-After: 1 and TOOMANYREQUESTS: regcache is at one of its bounds (downloads or
// upstream connections per worker, the resolver's queue). TOOMANYREQUESTS, not the
// distribution-only UNAVAILABLE, because it is in the OCI spec's table of codes every client
// knows and it says what happened: too many requests at once. 503, not 429, because the bound
// is regcache's capacity, not anything this client did.
core::Task<int> send_over_capacity(ClientConnection &client, std::string_view why);

// An upstream request that got no usable answer: 401 UNAUTHORIZED when the upstream (or its
// token server) refused regcache's credentials (-EACCES), 403 DENIED when the host may not be
// reached (-EPERM: not a public address), 503 when regcache is at a bound (-EBUSY, see
// send_over_capacity), else 502.
core::Task<int> send_upstream_failure(ClientConnection &client, int rc, std::string_view error);

// True for answers that mean "the upstream cannot help right now" (stale-if-error applies).
inline bool upstream_unhealthy(uint16_t status) {
  return status == 429 || status >= 500;
}

} // namespace regcache::registry

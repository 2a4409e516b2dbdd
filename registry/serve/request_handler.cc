#include "registry/serve/request_handler.h"

#include <fmt/format.h>

#include "registry/api/route.h"
#include "registry/serve/blob_responder.h"
#include "registry/serve/client_connection.h"
#include "registry/serve/manifest_responder.h"
#include "registry/serve/upstream_answer.h"
#include "registry/upstream/upstream_router.h"

namespace regcache::registry {

core::Task<void> handle_request(ClientConnection &client, const http::RequestHead &head) {
  if (head.method != "GET" && head.method != "HEAD") {
    static constexpr http::Header kAllow{"Allow", "GET, HEAD"};
    co_await client.send_oci_error(405, OciErrorCode::Unsupported,
                                   "regcache is a pull-through cache: only GET and HEAD are served",
                                   std::span<const http::Header>(&kAllow, 1));
    co_return;
  }
  RouteResult routed = parse_route(head.path);
  if (const RouteError *error = std::get_if<RouteError>(&routed)) {
    co_await client.send_oci_error(error->status, error->code, error->message);
    co_return;
  }
  const Route &route = std::get<Route>(routed);
  if (route.kind == Route::Kind::Ping) {
    // Answered here: clients of a mirror need no upstream credentials of their own.
    co_await client.send_simple(200, "application/json", "{}");
    co_return;
  }
  if (route.kind == Route::Kind::Blob) {
    // Blobs are content-addressed: a stored one is the answer whichever upstream the request
    // names, so the hit is served before any routing (which builds strings): the hit path
    // allocates nothing.
    if (!ns_param_is_valid(head.query)) {
      co_await client.send_oci_error(400, OciErrorCode::NameInvalid, kInvalidNsMessage);
      co_return;
    }
    bool served = co_await serve_stored_blob(client, route);
    if (served)
      co_return;
  }
  UpstreamChoice upstream;
  switch (choose_upstream(client.worker().config, head.query, route.name, upstream)) {
  case UpstreamRefusal::None:
    break;
  case UpstreamRefusal::InvalidHost:
    co_await client.send_oci_error(400, OciErrorCode::NameInvalid, kInvalidNsMessage);
    co_return;
  case UpstreamRefusal::NotServed:
    co_await send_registry_denied(client);
    co_return;
  }
  if (upstream.config != nullptr && client.worker().upstream_tls != nullptr) {
    auto it = client.worker().upstream_tls->find(upstream.config);
    if (it != client.worker().upstream_tls->end())
      upstream.endpoint.tls_context = it->second;
  }
  client.set_upstream(upstream.endpoint.authority);
  switch (route.kind) {
  case Route::Kind::Ping:
    break;
  case Route::Kind::Blob:
    co_await respond_blob(client, head, route, upstream);
    break;
  case Route::Kind::Manifest:
    co_await respond_manifest(client, head, route, upstream);
    break;
  case Route::Kind::TagsList: {
    // Passed through with its pagination parameters; ns= is ours and stays here.
    std::string target = fmt::format("/v2/{}/tags/list", upstream.name);
    std::string_view n = query_param(head.query, "n");
    std::string_view last = query_param(head.query, "last");
    char separator = '?';
    if (!n.empty()) {
      target += fmt::format("{}n={}", separator, n);
      separator = '&';
    }
    if (!last.empty())
      target += fmt::format("{}last={}", separator, last);
    co_await relay_request(client, head, upstream, target, {});
    break;
  }
  }
}

core::Task<void> serve_client(WorkerContext &worker, int fd) {
  ClientConnection connection(worker, fd);
  co_await connection.serve(&handle_request);
}

} // namespace regcache::registry

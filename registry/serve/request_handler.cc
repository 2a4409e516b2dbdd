#include "registry/serve/request_handler.h"

#include <fmt/format.h>
#include <sys/socket.h>

#include "registry/api/route.h"
#include "registry/serve/blob_responder.h"
#include "registry/serve/client_access.h"
#include "registry/serve/client_connection.h"
#include "registry/serve/control_endpoints.h"
#include "registry/serve/manifest_responder.h"
#include "registry/serve/ops_endpoints.h"
#include "registry/serve/proxy_connect.h"
#include "registry/serve/proxy_intercept.h"
#include "registry/serve/proxy_setup.h"
#include "registry/serve/push_relay.h"
#include "registry/serve/upstream_answer.h"
#include "registry/upstream/upstream_router.h"

namespace regcache::registry {
namespace {

// The upstream a request for repository `name` goes to, and whether this client may use it;
// false when the client has been answered (a bad ?ns=, a registry not served, refused).
// Routing's query for a request: an intercepted connection's registry, whatever the request
// says, else the request's own (?ns=).
std::string_view routing_query(const ClientConnection &client, const http::RequestHead &head) {
  return client.intercepted() ? client.intercept_query() : head.query;
}

core::Task<bool> route_to_upstream(ClientConnection &client, const http::RequestHead &head,
                                   std::string_view name, const ClientIdentity &identity,
                                   UpstreamChoiceRef &chosen) {
  const ConfigGeneration &generation = client.generation();
  switch (client.worker().upstream_choices.choose(generation.number, generation.config,
                                                  &generation.upstream_tls,
                                                  routing_query(client, head), name, chosen)) {
  case UpstreamRefusal::None:
    break;
  case UpstreamRefusal::InvalidHost:
    co_await client.send_oci_error(400, OciErrorCode::NameInvalid, kInvalidNsMessage);
    co_return false;
  case UpstreamRefusal::NotServed:
    co_await send_registry_denied(client);
    co_return false;
  }
  client.set_upstream(chosen->endpoint.authority);
  bool admitted = co_await admit_to_upstream(client, head, *chosen, identity);
  co_return admitted;
}

core::Task<void> handle_push(ClientConnection &client, const http::RequestHead &head) {
  if (client.generation().client_auth->enabled()) {
    // A client's Authorization is then regcache's own login, which must never reach an
    // upstream, and the upstream's cannot ride along: pushes are not relayed.
    co_await client.send_oci_error(403, OciErrorCode::Denied,
                                   "regcache authenticates its clients (--htpasswd-file): "
                                   "pushes cannot carry the client's own registry credentials");
    co_return;
  }
  std::optional<ClientIdentity> identity = co_await identify_client(client, head);
  if (!identity)
    co_return; // answered
  const std::optional<PushRoute> route = parse_push_route(head.path);
  if (!route) {
    co_await client.send_oci_error(404, OciErrorCode::Unsupported,
                                   "not a push endpoint of the distribution API, or a name, "
                                   "session, tag or digest outside its grammar");
    co_return;
  }
  UpstreamChoiceRef chosen; // held in this frame for the whole push
  bool routed = co_await route_to_upstream(client, head, route->name, *identity, chosen);
  if (routed)
    co_await relay_push(client, head, *route, *chosen);
}

} // namespace

core::Task<void> handle_request(ClientConnection &client, const http::RequestHead &head) {
  // Proxy mode, before the method check: CONNECT, and absolute-form requests for other hosts.
  if (head.method == "CONNECT") {
    co_await serve_connect(client, head);
    co_return;
  }
  if (client.intercepted() && !head.path.starts_with("/v2")) {
    // A path of the registry's host that is not its API (a token endpoint, a web page): not
    // regcache's own endpoints (those are the plain port's), and not cached.
    co_await relay_intercepted_request(client, head);
    co_return;
  }
  if (!client.intercepted() && !head.target.starts_with('/')) { // origin-form skips this
    bool answered_as_proxy = co_await answer_absolute_form(client, head);
    if (answered_as_proxy)
      co_return;
  }
  if (head.path.starts_with(kControlPrefix)) { // before the method check: purge is a POST
    co_await serve_control_endpoint(client, head);
    co_return;
  }
  if (is_relayed_push(client.generation().config, head)) {
    co_await handle_push(client, head);
    co_return;
  }
  if (head.method != "GET" && head.method != "HEAD") {
    static constexpr http::Header kAllow{"Allow", "GET, HEAD"};
    co_await client.send_oci_error(405, OciErrorCode::Unsupported,
                                   "regcache is a pull-through cache: only GET and HEAD are served",
                                   std::span<const http::Header>(&kAllow, 1));
    co_return;
  }
  if (!head.path.starts_with("/v2")) {
    bool answered = co_await serve_proxy_setup_endpoint(client, head);
    if (answered)
      co_return;
    // Operations endpoints; the registry API is all under /v2, so a hit never gets here.
    answered = co_await serve_ops_endpoint(client, head, OpsListener::Main);
    if (answered)
      co_return;
  }
  if (head.path == kTokenPath && client.generation().client_auth->enabled()) {
    client.set_request_kind(RequestKind::Token);
    co_await respond_token(client, head);
    co_return;
  }
  std::optional<ClientIdentity> identity = co_await identify_client(client, head);
  if (!identity)
    co_return; // answered
  RouteResult routed = parse_route(head.path);
  if (const RouteError *error = std::get_if<RouteError>(&routed)) {
    co_await client.send_oci_error(error->status, error->code, error->message);
    co_return;
  }
  const Route &route = std::get<Route>(routed);
  switch (route.kind) {
  case Route::Kind::Ping:
    client.set_request_kind(RequestKind::Ping);
    break;
  case Route::Kind::Manifest:
    client.set_request_kind(RequestKind::Manifest);
    break;
  case Route::Kind::Blob:
    client.set_request_kind(RequestKind::Blob);
    break;
  case Route::Kind::TagsList:
    break; // Other
  }
  if (route.kind == Route::Kind::Ping) {
    // Answered here: clients of a mirror need no upstream credentials of their own. With
    // client authentication on, a client that brings nothing is sent to the token endpoint
    // (it gets an anonymous token there), which is how docker login learns where to log in.
    if (client.generation().client_auth->enabled() && !head.find("Authorization")) {
      co_await send_login_challenge(client, head,
                                    "log in to regcache, or fetch an anonymous token");
      co_return;
    }
    if (client.generation().config.allow_push && !client.generation().client_auth->enabled()) {
      UpstreamChoiceRef chosen;
      bool reachable = co_await route_to_upstream(client, head, {}, *identity, chosen);
      if (!reachable)
        co_return;
      bool answered = co_await relay_upstream_challenge(client, *chosen);
      if (answered)
        co_return;
    }
    co_await client.send_simple(200, "application/json", "{}");
    co_return;
  }
  // With upstreams limited to some clients, a stored blob is served only after routing says
  // the client may use the upstream it names (see the README's Security section).
  if (route.kind == Route::Kind::Blob && !client.generation().blob_hits_need_routing) {
    // Blobs are content-addressed: a stored one is the answer whichever upstream the request
    // names, so the hit is served before any routing (which builds strings): the hit path
    // allocates nothing.
    if (!client.intercepted() && !ns_param_is_valid(head.query)) {
      co_await client.send_oci_error(400, OciErrorCode::NameInvalid, kInvalidNsMessage);
      co_return;
    }
    bool served = co_await serve_stored_blob(client, head, route);
    if (served)
      co_return;
  }
  // Remembered per worker (upstream_choices.h): routing a manifest hit allocates nothing. Held
  // in this frame for the whole request.
  UpstreamChoiceRef chosen;
  bool reachable = co_await route_to_upstream(client, head, route.name, *identity, chosen);
  if (!reachable)
    co_return;
  const UpstreamChoice &upstream = *chosen;
  if (route.kind == Route::Kind::Blob && client.generation().blob_hits_need_routing) {
    // A blob stored only through limited upstreams is not served through an open route: the
    // open route's own upstream is asked (respond_blob), which shows whether it is public.
    std::optional<Digest> digest = parse_sha256_digest(route.reference);
    bool servable = digest.has_value();
    if (servable)
      servable = co_await stored_content_serves(client, upstream, *digest);
    if (servable) {
      bool served = co_await serve_stored_blob(client, head, route);
      if (served)
        co_return;
    }
  }
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

namespace {

// Every request of a client whose address --allow-clients excludes.
core::Task<void> refuse_client(ClientConnection &client, const http::RequestHead &) {
  client.set_outcome(CacheOutcome::Error);
  client.close_after_response();
  co_await client.send_oci_error(403, OciErrorCode::Denied,
                                 "this address may not use regcache (--allow-clients)");
}

bool peer_allowed(const Config &config, int fd) {
  if (config.allow_clients.everyone)
    return true;
  core::SocketAddress peer;
  peer.length = sizeof(peer.storage);
  // Once per connection; a plain syscall that never blocks.
  if (::getpeername(fd, reinterpret_cast<sockaddr *>(&peer.storage), &peer.length) != 0)
    return false;
  return client_allowed(config.allow_clients, peer);
}

} // namespace

core::Task<void> serve_client(WorkerContext &worker, int fd) {
  ClientConnection connection(worker, fd);
  const bool allowed = peer_allowed(connection.generation().config, fd);
  co_await connection.serve(allowed ? &handle_request : &refuse_client);
}

core::Task<void> serve_ops_client(WorkerContext &worker, int fd) {
  ClientConnection connection(worker, fd);
  const bool allowed = peer_allowed(connection.generation().config, fd);
  co_await connection.serve(allowed ? &handle_ops_request : &refuse_client);
}

} // namespace regcache::registry

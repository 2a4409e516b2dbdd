#include "registry/serve/proxy_connect.h"

#include <sys/socket.h>

#include <array>

#include "core/socket_address.h"
#include "registry/serve/client_connection.h"
#include "registry/serve/connect_tunnel.h"
#include "registry/serve/plain_forward.h"
#include "registry/serve/proxy_intercept.h"
#include "registry/upstream/upstream_router.h"

namespace regcache::registry {
namespace {

// Whether the client may use the proxy: true with no --proxy-users, or valid Basic credentials
// in Proxy-Authorization (RFC 9110 section 11.7.2). Otherwise it has been answered (407, or
// 503 when the password checks are all busy) and the connection ends. The header's value is
// never logged.
core::Task<bool> admit_proxy_client(ClientConnection &client, const http::RequestHead &head) {
  ClientAuth *users = client.generation().proxy_auth.get();
  if (users == nullptr)
    co_return true;
  const http::Header *credentials = head.find("Proxy-Authorization");
  std::string_view value = credentials ? credentials->value : std::string_view();
  // Basic only: the proxy gives out no tokens, and a client's registry token is no proxy login.
  ClientIdentity identity;
  identity.kind = ClientIdentity::Kind::BadCredentials;
  if (value.size() > 6 && http::iequals(value.substr(0, 6), "Basic "))
    identity = co_await users->identify(value);
  if (identity.kind == ClientIdentity::Kind::User)
    co_return true;
  client.set_outcome(CacheOutcome::Error);
  client.drain_then_close();
  RequestCounters *counters = head.method == "CONNECT" ? client.worker().counters : nullptr;
  if (identity.kind == ClientIdentity::Kind::Busy) {
    if (counters != nullptr)
      counters->tunnels.count(TunnelResult::Busy);
    static constexpr http::Header kRetry{"Retry-After", "1"};
    co_await client.send_simple(503, "text/plain", "regcache: too many password checks, retry\n",
                                std::span<const http::Header>(&kRetry, 1));
    co_return false;
  }
  if (counters != nullptr)
    counters->tunnels.count(TunnelResult::Auth);
  static constexpr http::Header kChallenge{"Proxy-Authenticate", "Basic realm=\"regcache\""};
  co_await client.send_simple(407, "text/plain",
                              credentials == nullptr
                                  ? "regcache: this proxy needs Proxy-Authorization (Basic)\n"
                                  : "regcache: wrong proxy user or password\n",
                              std::span<const http::Header>(&kChallenge, 1));
  co_return false;
}

// The port this connection came in on: an absolute-form request naming it is for regcache.
uint16_t local_port(int fd) {
  core::SocketAddress local;
  local.length = sizeof(local.storage);
  // A plain syscall that never blocks, once per absolute-form request.
  if (::getsockname(fd, reinterpret_cast<sockaddr *>(&local.storage), &local.length) != 0)
    return 0;
  if (local.family() == AF_INET)
    return ntohs(reinterpret_cast<const sockaddr_in *>(&local.storage)->sin_port);
  return ntohs(reinterpret_cast<const sockaddr_in6 *>(&local.storage)->sin6_port);
}

} // namespace

core::Task<void> serve_connect(ClientConnection &client, const http::RequestHead &head) {
  if (!client.generation().config.proxy_mode || client.intercepted()) {
    // Off, or a CONNECT inside an intercepted session (regcache would be its own proxy).
    client.drain_then_close();
    co_await client.send_oci_error(405, OciErrorCode::Unsupported,
                                   "regcache does not serve CONNECT here");
    co_return;
  }
  bool admitted = co_await admit_proxy_client(client, head);
  if (!admitted)
    co_return;
  std::optional<TunnelTarget> target = parse_tunnel_target(head.target);
  if (!target) {
    client.drain_then_close();
    co_await client.send_simple(400, "text/plain", "regcache: CONNECT needs host:port\n");
    co_return;
  }
  if (connect_is_intercepted(client.generation().config, target->host, target->port)) {
    co_await intercept_connect(client, target->host, target->port);
    co_return;
  }
  co_await run_tunnel(client, head, *target);
}

core::Task<bool> answer_absolute_form(ClientConnection &client, const http::RequestHead &head) {
  // The parser set `host` from an absolute-form target's authority (RFC 9112 section 3.2.2).
  if (head.target.find("://") == std::string_view::npos)
    co_return false; // origin-form, or asterisk-form (OPTIONS *)
  std::string_view authority = head.host;
  uint16_t port = head.target.starts_with("https:") ? 443 : 80;
  std::string_view host = authority;
  if (std::optional<TunnelTarget> explicit_port = parse_tunnel_target(authority)) {
    host = explicit_port->host;
    port = explicit_port->port;
  }
  // A request naming regcache's own port is for regcache (the helper endpoints, the mirror API
  // through a client's HTTP_PROXY): served as origin-form, without proxy credentials.
  if (port == local_port(client.fd()))
    co_return false;
  bool admitted = co_await admit_proxy_client(client, head);
  if (!admitted)
    co_return true;
  // An intercepted registry's host is forwarded too, uncached: routing by the request's host
  // exists only for CONNECT sessions (plain-HTTP registries through HTTP_PROXY are rare).
  if (!head.target.starts_with("http://")) {
    // https:// in absolute-form asks the proxy to make the TLS connection: clients use CONNECT.
    client.set_outcome(CacheOutcome::Error);
    client.drain_then_close();
    co_await client.send_simple(501, "text/plain",
                                "regcache forwards only http:// URLs; for https:// use CONNECT\n");
    co_return true;
  }
  co_await forward_plain_request(client, head, TunnelTarget{host, port});
  co_return true;
}

} // namespace regcache::registry

#pragma once
// CONNECT tunnels (issue 13): for every host regcache does not intercept, the client's bytes are
// spliced to the destination and back untouched. The rules, in the order they are checked (each
// refusal a text answer, then the connection ends): the port (443 and the configured upstreams'
// ports, or --tunnel-ports) -> 403; the name resolves (on the resolver's threads) -> 502; the
// address is one a tunnel may reach (core/socket_address.h) -> 403; a tunnel slot and two pipes
// are free on this worker (--tunnels-max) -> 503; the connect completes in time -> 504 (502 when
// refused). Proxy authentication comes before all of these (proxy_connect.h).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/task.h"
#include "http/message_head.h"
#include "registry/config/config.h"
#include "registry/serve/tunnel_counters.h"

namespace regcache::registry {

class ClientConnection;

// A CONNECT target's host (without the brackets of an IPv6 literal) and port.
struct TunnelTarget {
  std::string_view host;
  uint16_t port = 0;
};
// "host:port" or "[v6]:port"; nullopt when it is not that (the parser checked the form).
std::optional<TunnelTarget> parse_tunnel_target(std::string_view authority);

// Whether a tunnel may go to `port` under `config`.
bool tunnel_port_allowed(const Config &config, uint16_t port);

// How a CONNECT (or a forwarded request) was refused, counted, answered with `message` as text,
// and the connection ends.
core::Task<void> refuse_tunnel(ClientConnection &client, uint16_t status, TunnelResult result,
                               std::string_view message, std::span<const http::Header> extra = {});

// Resolves `host` (the target's, owned here: the request's views may not last), checks the
// address and connects: the destination's socket, or -1 when a refusal has been sent.
core::Task<int> open_tunnel_destination(ClientConnection &client, const TunnelTarget &target,
                                        std::string host);

// Relays what `from_fd` sends to the client until it closes (spliced), within the tunnel
// timeouts: the bytes relayed.
core::Task<uint64_t> relay_to_client(ClientConnection &client, int from_fd);

// Checks the rules, then carries bytes both ways until both sides have closed, the tunnel has
// been silent for --tunnel-idle-timeout-ms, or --tunnel-max-ms has passed.
core::Task<void> run_tunnel(ClientConnection &client, const http::RequestHead &head,
                            TunnelTarget target);

} // namespace regcache::registry

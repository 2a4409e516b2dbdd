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
#include <string_view>

#include "core/task.h"
#include "http/message_head.h"
#include "registry/config/config.h"

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

// Checks the rules, then carries bytes both ways until both sides have closed, the tunnel has
// been silent for --tunnel-idle-timeout-ms, or --tunnel-max-ms has passed.
core::Task<void> run_tunnel(ClientConnection &client, const http::RequestHead &head,
                            TunnelTarget target);

} // namespace regcache::registry

#pragma once
// The value of --listen (REGCACHE_LISTEN, "listen" in the config file).
#include <cstdint>
#include <optional>
#include <string_view>

namespace regcache::registry {

// host and port of a --listen value, "IPv4:port" or "[IPv6]:port"; host is a view into the
// text, without brackets.
struct ListenAddress {
  std::string_view host;
  uint16_t port;
  bool is_ipv6;
};
std::optional<ListenAddress> parse_listen_address(std::string_view text);

} // namespace regcache::registry

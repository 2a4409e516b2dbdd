#include "registry/config/listen_address.h"

#include "registry/api/name_grammar.h"

namespace regcache::registry {

std::optional<ListenAddress> parse_listen_address(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return std::nullopt;
  const std::optional<uint16_t> port = parse_port(text.substr(colon + 1));
  if (!port)
    return std::nullopt;
  const std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    const std::string_view inner = host.substr(1, host.size() - 2);
    if (!is_valid_ipv6(inner))
      return std::nullopt;
    return ListenAddress{inner, *port, true};
  }
  // Binding needs an address; resolving a name here would be I/O.
  if (!is_valid_ipv4(host))
    return std::nullopt;
  return ListenAddress{host, *port, false};
}

} // namespace regcache::registry

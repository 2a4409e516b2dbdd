#include "http/upstream_endpoint.h"

#include <charconv>

namespace regcache::http {

bool parse_absolute_url(std::string_view url, Endpoint &endpoint, std::string &target) {
  std::string_view rest;
  if (url.starts_with("https://")) {
    endpoint.tls = true;
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    endpoint.tls = false;
    rest = url.substr(7);
  } else {
    return false;
  }
  size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  std::string_view path =
      slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
  if (authority.empty() || authority.find('@') != std::string_view::npos)
    return false;
  std::string_view host = authority;
  uint16_t port = endpoint.tls ? 443 : 80;
  size_t colon = authority.rfind(':');
  bool bracketed = authority.front() == '[';
  size_t close = authority.find(']');
  if (colon != std::string_view::npos &&
      (!bracketed || (close != std::string_view::npos && colon > close))) {
    std::string_view port_text = authority.substr(colon + 1);
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || value == 0 ||
        value > 65535) {
      return false;
    }
    port = static_cast<uint16_t>(value);
    host = authority.substr(0, colon);
  }
  if (host.empty())
    return false;
  size_t fragment = path.find('#');
  if (fragment != std::string_view::npos)
    path = path.substr(0, fragment);
  // An absolute URL's target always starts with '/' (RFC 9112 section 3.2.1). Built in one
  // assign: GCC 12 at -O3 warns falsely (-Wrestrict) on `target = "/"; target += path;`.
  bool needs_slash = path.empty() || path.front() == '?';
  target.assign(needs_slash ? 1 : 0, '/');
  target.append(path.data(), path.size());
  endpoint.host = host;
  endpoint.port = port;
  endpoint.authority =
      (port == (endpoint.tls ? 443 : 80)) ? std::string(host) : std::string(authority);
  return true;
}

} // namespace regcache::http

#include "core/socket_address.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <unistd.h>

#include <charconv>
#include <cstring>

namespace regcache::core {

bool numeric_address(std::string_view host, uint16_t port, SocketAddress &out) {
  char text[INET6_ADDRSTRLEN + 1];
  if (host.size() >= sizeof(text))
    return false;
  std::memcpy(text, host.data(), host.size());
  text[host.size()] = '\0';
  out = SocketAddress{};
  auto *v4 = reinterpret_cast<sockaddr_in *>(&out.storage);
  if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    out.length = sizeof(sockaddr_in);
    return true;
  }
  auto *v6 = reinterpret_cast<sockaddr_in6 *>(&out.storage);
  if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    out.length = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

bool parse_socket_address(std::string_view host_port, SocketAddress &out, std::string *error) {
  std::string_view host;
  std::string_view port_text;
  if (!host_port.empty() && host_port.front() == '[') {
    size_t close = host_port.find(']');
    if (close == std::string_view::npos || close + 1 >= host_port.size() ||
        host_port[close + 1] != ':') {
      *error = fmt::format("'{}' is not [IPv6]:port", host_port);
      return false;
    }
    host = host_port.substr(1, close - 1);
    port_text = host_port.substr(close + 2);
  } else {
    size_t colon = host_port.rfind(':');
    if (colon == std::string_view::npos) {
      *error = fmt::format("'{}' has no port (expected host:port)", host_port);
      return false;
    }
    host = host_port.substr(0, colon);
    port_text = host_port.substr(colon + 1);
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
      port > 65535) {
    *error = fmt::format("'{}' is not a port number (1-65535)", port_text);
    return false;
  }
  if (!numeric_address(host, static_cast<uint16_t>(port), out)) {
    *error = fmt::format("'{}' is not a numeric IPv4 or IPv6 address", host);
    return false;
  }
  return true;
}

std::string format_address(const SocketAddress &address) {
  char text[INET6_ADDRSTRLEN] = "?";
  if (address.family() == AF_INET) {
    auto *v4 = reinterpret_cast<const sockaddr_in *>(&address.storage);
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof(text));
    return fmt::format("{}:{}", text, ntohs(v4->sin_port));
  }
  auto *v6 = reinterpret_cast<const sockaddr_in6 *>(&address.storage);
  inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof(text));
  return fmt::format("[{}]:{}", text, ntohs(v6->sin6_port));
}

int listen_tcp(const SocketAddress &address, bool reuse_port, int backlog, std::string *error) {
  int fd = ::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = fmt::format("socket: {}", strerror(errno));
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (reuse_port)
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (::bind(fd, address.get(), address.length) != 0) {
    *error = fmt::format("cannot listen on {}: {}", format_address(address), strerror(errno));
    ::close(fd);
    return -1;
  }
  if (::listen(fd, backlog) != 0) {
    *error = fmt::format("listen on {}: {}", format_address(address), strerror(errno));
    ::close(fd);
    return -1;
  }
  return fd;
}

} // namespace regcache::core

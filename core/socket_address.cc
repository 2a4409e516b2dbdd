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

std::optional<HostPortText> split_host_port(std::string_view host_port) {
  if (!host_port.empty() && host_port.front() == '[') {
    const size_t close = host_port.find(']');
    if (close == std::string_view::npos || close + 1 >= host_port.size() ||
        host_port[close + 1] != ':')
      return std::nullopt;
    return HostPortText{host_port.substr(1, close - 1), host_port.substr(close + 2)};
  }
  const size_t colon = host_port.rfind(':');
  if (colon == std::string_view::npos)
    return std::nullopt;
  return HostPortText{host_port.substr(0, colon), host_port.substr(colon + 1)};
}

std::optional<uint16_t> parse_port_number(std::string_view text) {
  unsigned port = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || port == 0 ||
      port > 65535)
    return std::nullopt;
  return static_cast<uint16_t>(port);
}

bool parse_socket_address(std::string_view host_port, SocketAddress &out, std::string *error) {
  const std::optional<HostPortText> parts = split_host_port(host_port);
  if (!parts) {
    *error = host_port.starts_with('[')
                 ? fmt::format("'{}' is not [IPv6]:port", host_port)
                 : fmt::format("'{}' has no port (expected host:port)", host_port);
    return false;
  }
  const std::optional<uint16_t> port = parse_port_number(parts->port);
  if (!port) {
    *error = fmt::format("'{}' is not a port number (1-65535)", parts->port);
    return false;
  }
  if (!numeric_address(parts->host, *port, out)) {
    *error = fmt::format("'{}' is not a numeric IPv4 or IPv6 address", parts->host);
    return false;
  }
  return true;
}

namespace {

// `address` in host byte order.
bool is_public_ipv4(uint32_t address) {
  auto in = [address](uint32_t network, int prefix_bits) {
    uint32_t mask = prefix_bits == 0 ? 0 : ~uint32_t{0} << (32 - prefix_bits);
    return (address & mask) == network;
  };
  return !(in(0x00000000, 8)      // 0/8: "this network", unspecified
           || in(0x0a000000, 8)   // 10/8 (RFC 1918)
           || in(0x64400000, 10)  // 100.64/10 (RFC 6598, carrier-grade NAT)
           || in(0x7f000000, 8)   // 127/8 loopback
           || in(0xa9fe0000, 16)  // 169.254/16 link-local, the cloud metadata address
           || in(0xac100000, 12)  // 172.16/12 (RFC 1918)
           || in(0xc0000000, 24)  // 192.0.0/24 (IETF protocol assignments)
           || in(0xc0a80000, 16)  // 192.168/16 (RFC 1918)
           || in(0xc6120000, 15)  // 198.18/15 (benchmarking)
           || in(0xe0000000, 4)   // 224/4 multicast
           || in(0xf0000000, 4)); // 240/4 reserved, and 255.255.255.255
}

uint32_t ipv4_at(const uint8_t *bytes) {
  return uint32_t{bytes[0]} << 24 | uint32_t{bytes[1]} << 16 | uint32_t{bytes[2]} << 8 | bytes[3];
}

// `address` in host byte order: what a tunnel must never reach, whatever network regcache is in.
bool is_tunnel_ipv4_allowed(uint32_t address) {
  auto in = [address](uint32_t network, int prefix_bits) {
    uint32_t mask = ~uint32_t{0} << (32 - prefix_bits);
    return (address & mask) == network;
  };
  return !(in(0x00000000, 8)      // 0/8: unspecified; Linux connects 0.0.0.0 to itself
           || in(0x7f000000, 8)   // 127/8 loopback
           || in(0xa9fe0000, 16)  // 169.254/16 link-local, the cloud metadata address
           || in(0xe0000000, 4)   // 224/4 multicast
           || in(0xf0000000, 4)); // 240/4 reserved, and 255.255.255.255 broadcast
}

// The IPv4 address an IPv6 one stands for (mapped ::ffff:0:0/96, NAT64 64:ff9b::/96, or the
// old compatible ::/96 that also holds :: and ::1), when it is one of those.
bool embedded_ipv4(const uint8_t *b, uint32_t *out) {
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static constexpr uint8_t kNat64Prefix[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  static constexpr uint8_t kZeroPrefix[12] = {};
  if (std::memcmp(b, kMappedPrefix, 12) != 0 && std::memcmp(b, kNat64Prefix, 12) != 0 &&
      std::memcmp(b, kZeroPrefix, 12) != 0)
    return false;
  *out = ipv4_at(b + 12);
  return true;
}

} // namespace

bool is_public_address(const SocketAddress &address) {
  if (address.family() == AF_INET) {
    const auto *v4 = reinterpret_cast<const sockaddr_in *>(&address.storage);
    return is_public_ipv4(ntohl(v4->sin_addr.s_addr));
  }
  if (address.family() != AF_INET6)
    return false;
  const auto *v6 = reinterpret_cast<const sockaddr_in6 *>(&address.storage);
  const uint8_t *b = v6->sin6_addr.s6_addr;
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static constexpr uint8_t kNat64Prefix[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (std::memcmp(b, kMappedPrefix, 12) == 0 || std::memcmp(b, kNat64Prefix, 12) == 0)
    return is_public_ipv4(ipv4_at(b + 12));
  bool high_zero = true; // ::/96 holds :: (unspecified), ::1 (loopback) and the old ::a.b.c.d
  for (int i = 0; i < 12; ++i)
    high_zero = high_zero && b[i] == 0;
  if (high_zero)
    return false;
  if (b[0] == 0xff) // ff00::/8 multicast
    return false;
  if ((b[0] & 0xfe) == 0xfc) // fc00::/7 unique local
    return false;
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) // fe80::/10 link-local
    return false;
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) // fec0::/10 site-local (deprecated, still private)
    return false;
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) // 2001:db8::/32 documentation
    return false;
  return true;
}

bool is_tunnel_destination_allowed(const SocketAddress &address) {
  if (address.family() == AF_INET) {
    const auto *v4 = reinterpret_cast<const sockaddr_in *>(&address.storage);
    return is_tunnel_ipv4_allowed(ntohl(v4->sin_addr.s_addr));
  }
  if (address.family() != AF_INET6)
    return false;
  const auto *v6 = reinterpret_cast<const sockaddr_in6 *>(&address.storage);
  const uint8_t *b = v6->sin6_addr.s6_addr;
  // ::ffff:127.0.0.1 reaches 127.0.0.1 on a dual-stack socket; ::1 and :: are in ::/96, whose
  // embedded 0.0.0.0 and 0.0.0.1 are refused as 0/8.
  if (uint32_t v4 = 0; embedded_ipv4(b, &v4))
    return is_tunnel_ipv4_allowed(v4);
  if (b[0] == 0xff) // ff00::/8 multicast
    return false;
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) // fe80::/10 link-local
    return false;
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

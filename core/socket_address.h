#pragma once
// Socket addresses and listening sockets. Only used at startup or by the resolver: these are
// plain syscalls, not ring operations.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace regcache::core {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  const sockaddr *get() const { return reinterpret_cast<const sockaddr *>(&storage); }
  int family() const { return storage.ss_family; }
};

// The host and port text of "host:port" or "[v6]:port" (the host without its brackets), split at
// the last colon outside brackets; nullopt when there is no port part or the brackets are not
// closed right before it.
struct HostPortText {
  std::string_view host;
  std::string_view port;
};
std::optional<HostPortText> split_host_port(std::string_view host_port);
// A port number: digits only, 1-65535.
std::optional<uint16_t> parse_port_number(std::string_view text);

// "127.0.0.1:3128", "[::1]:3128", "0.0.0.0:3128". Numeric only.
bool parse_socket_address(std::string_view host_port, SocketAddress &out, std::string *error);
// A numeric IPv4/IPv6 literal (no brackets) and a port.
bool numeric_address(std::string_view host, uint16_t port, SocketAddress &out);
std::string format_address(const SocketAddress &address);

// True for an address on the public internet; false for loopback, unspecified, link-local
// (169.254/16, fe80::/10), private (RFC 1918, fc00::/7), shared (100.64/10, RFC 6598),
// multicast, reserved and broadcast addresses, also when an IPv6 address embeds an IPv4 one
// (::ffff:a.b.c.d, 64:ff9b::/96). What a client names must not reach regcache's own network.
bool is_public_address(const SocketAddress &address);

// True for an address a CONNECT tunnel may reach: public and private (RFC 1918, fc00::/7, shared
// 100.64/10) addresses, since an office proxy serves its intranet; false for loopback,
// unspecified, link-local (169.254/16 with the cloud metadata address, fe80::/10), multicast,
// reserved and broadcast addresses, also in IPv4-mapped, -compatible or NAT64 form. A client must
// not reach services bound to regcache's own host, or the metadata service, through it.
bool is_tunnel_destination_allowed(const SocketAddress &address);

// A non-blocking listening TCP socket with SO_REUSEADDR and, when `reuse_port`, SO_REUSEPORT so
// each worker has its own socket and the kernel spreads connections across them.
int listen_tcp(const SocketAddress &address, bool reuse_port, int backlog, std::string *error);

} // namespace regcache::core

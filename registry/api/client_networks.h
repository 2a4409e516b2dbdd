#pragma once
// Which client addresses may use regcache (--allow-clients): a list of CIDR blocks, IPv4 and
// IPv6. Pure: matched once per accepted connection.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/socket_address.h"

namespace regcache::registry {

struct ClientNetwork {
  bool ipv6 = false;
  std::array<uint8_t, 16> bytes{}; // network address, 4 bytes used for IPv4
  uint8_t prefix_bits = 0;
};

struct ClientNetworks {
  bool everyone = true; // the default: no list given
  std::vector<ClientNetwork> networks;
  std::string text = "all"; // as the operator wrote it
};

// "all", or comma-separated CIDR blocks ("10.0.0.0/8, 192.168.1.0/24, ::1/128"); an address
// without a prefix is one host. nullopt with `*problem` set on a bad element.
std::optional<ClientNetworks> parse_client_networks(std::string_view text, std::string *problem);

// Whether `peer` is in one of the blocks. An IPv4 client connected to an IPv6 socket
// (::ffff:a.b.c.d) is matched as IPv4.
bool client_allowed(const ClientNetworks &allowed, const core::SocketAddress &peer);

} // namespace regcache::registry

#include "registry/api/client_networks.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

#include "http/message_head.h"

namespace regcache::registry {
namespace {

bool parse_network(std::string_view element, ClientNetwork &out) {
  const size_t slash = element.find('/');
  const std::string_view address = element.substr(0, slash);
  char text[INET6_ADDRSTRLEN + 1];
  if (address.empty() || address.size() >= sizeof(text))
    return false;
  std::memcpy(text, address.data(), address.size());
  text[address.size()] = '\0';
  if (inet_pton(AF_INET, text, out.bytes.data()) == 1) {
    out.ipv6 = false;
  } else if (inet_pton(AF_INET6, text, out.bytes.data()) == 1) {
    out.ipv6 = true;
  } else {
    return false;
  }
  const unsigned max_bits = out.ipv6 ? 128 : 32;
  unsigned bits = max_bits;
  if (slash != std::string_view::npos) {
    const std::string_view digits = element.substr(slash + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
        bits > max_bits)
      return false;
  }
  out.prefix_bits = static_cast<uint8_t>(bits);
  return true;
}

bool prefix_matches(const uint8_t *address, const ClientNetwork &network) {
  unsigned bits = network.prefix_bits;
  for (size_t i = 0; bits > 0; ++i) { // bounded by prefix_bits <= 128
    const unsigned take = bits >= 8 ? 8 : bits;
    const uint8_t mask = static_cast<uint8_t>(0xff00u >> take);
    if ((address[i] & mask) != (network.bytes[i] & mask))
      return false;
    bits -= take;
  }
  return true;
}

} // namespace

std::optional<ClientNetworks> parse_client_networks(std::string_view text, std::string *problem) {
  ClientNetworks allowed;
  allowed.text = std::string(http::trim_ows(text));
  if (allowed.text == "all")
    return allowed;
  allowed.everyone = false;
  std::string_view rest = text;
  while (!rest.empty()) { // bounded: each turn removes one element
    const size_t comma = rest.find(',');
    const std::string_view element = http::trim_ows(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (element.empty())
      continue;
    ClientNetwork network;
    if (!parse_network(element, network)) {
      *problem = "expected all, or CIDR blocks separated by commas (10.0.0.0/8, fd00::/8); '" +
                 std::string(element) + "' is not one";
      return std::nullopt;
    }
    allowed.networks.push_back(network);
  }
  if (allowed.networks.empty()) {
    *problem = "expected all, or CIDR blocks separated by commas";
    return std::nullopt;
  }
  return allowed;
}

bool client_allowed(const ClientNetworks &allowed, const core::SocketAddress &peer) {
  if (allowed.everyone)
    return true;
  const uint8_t *address = nullptr;
  bool ipv6 = false;
  if (peer.family() == AF_INET) {
    address = reinterpret_cast<const uint8_t *>(
        &reinterpret_cast<const sockaddr_in *>(&peer.storage)->sin_addr);
  } else if (peer.family() == AF_INET6) {
    address = reinterpret_cast<const sockaddr_in6 *>(&peer.storage)->sin6_addr.s6_addr;
    ipv6 = true;
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(address, kMapped, sizeof(kMapped)) == 0) {
      address += 12;
      ipv6 = false;
    }
  } else {
    return false;
  }
  for (const ClientNetwork &network : allowed.networks) {
    if (network.ipv6 == ipv6 && prefix_matches(address, network))
      return true;
  }
  return false;
}

} // namespace regcache::registry

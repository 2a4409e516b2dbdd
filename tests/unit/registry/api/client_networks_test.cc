#include "registry/api/client_networks.h"

#include <gtest/gtest.h>

namespace regcache::registry {
namespace {

ClientNetworks networks(std::string_view text) {
  std::string problem;
  std::optional<ClientNetworks> parsed = parse_client_networks(text, &problem);
  EXPECT_TRUE(parsed.has_value()) << text << ": " << problem;
  return parsed.value_or(ClientNetworks{});
}

bool allows(const ClientNetworks &allowed, const char *address) {
  core::SocketAddress peer;
  EXPECT_TRUE(core::numeric_address(address, 40000, peer)) << address;
  return client_allowed(allowed, peer);
}

TEST(ClientNetworksTest, AllAdmitsEveryone) {
  EXPECT_TRUE(allows(networks("all"), "203.0.113.9"));
  EXPECT_TRUE(allows(ClientNetworks{}, "::1"));
}

TEST(ClientNetworksTest, BlocksAdmitTheirAddressesOnly) {
  const ClientNetworks office = networks("10.0.0.0/8, 192.168.1.0/24,fd00::/8, 127.0.0.1");
  EXPECT_TRUE(allows(office, "10.200.3.4"));
  EXPECT_TRUE(allows(office, "192.168.1.77"));
  EXPECT_FALSE(allows(office, "192.168.2.1"));
  EXPECT_TRUE(allows(office, "fd12:3456::1"));
  EXPECT_FALSE(allows(office, "fe80::1"));
  EXPECT_TRUE(allows(office, "127.0.0.1"));
  EXPECT_FALSE(allows(office, "127.0.0.2"));
}

TEST(ClientNetworksTest, AnIpv4ClientOnAnIpv6SocketIsMatchedAsIpv4) {
  EXPECT_TRUE(allows(networks("10.0.0.0/8"), "::ffff:10.1.2.3"));
  EXPECT_FALSE(allows(networks("10.0.0.0/8"), "::ffff:11.1.2.3"));
}

TEST(ClientNetworksTest, PrefixesThatAreNotByteAlignedWork) {
  const ClientNetworks block = networks("172.16.0.0/12");
  EXPECT_TRUE(allows(block, "172.31.255.255"));
  EXPECT_FALSE(allows(block, "172.32.0.0"));
}

TEST(ClientNetworksTest, BadBlocksAreErrors) {
  std::string problem;
  for (std::string_view bad : {"", "10.0.0.0/33", "::/129", "10.0.0/8", "host.example", "1.2.3.4/"})
    EXPECT_FALSE(parse_client_networks(bad, &problem).has_value()) << bad;
}

} // namespace
} // namespace regcache::registry

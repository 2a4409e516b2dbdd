#include "core/socket_address.h"

#include <gtest/gtest.h>

namespace regcache::core {
namespace {

TEST(SocketAddressTest, ParsesIpv4HostAndPort) {
  SocketAddress address;
  std::string error;
  ASSERT_TRUE(parse_socket_address("127.0.0.1:3128", address, &error)) << error;
  EXPECT_EQ(address.family(), AF_INET);
  EXPECT_EQ(format_address(address), "127.0.0.1:3128");
}

TEST(SocketAddressTest, ParsesBracketedIpv6) {
  SocketAddress address;
  std::string error;
  ASSERT_TRUE(parse_socket_address("[::1]:8080", address, &error)) << error;
  EXPECT_EQ(address.family(), AF_INET6);
  EXPECT_EQ(format_address(address), "[::1]:8080");
}

TEST(SocketAddressTest, RejectsMissingOrBadPorts) {
  SocketAddress address;
  std::string error;
  EXPECT_FALSE(parse_socket_address("127.0.0.1", address, &error));
  EXPECT_FALSE(parse_socket_address("127.0.0.1:0", address, &error));
  EXPECT_FALSE(parse_socket_address("127.0.0.1:65536", address, &error));
  EXPECT_FALSE(parse_socket_address("127.0.0.1:80x", address, &error));
  EXPECT_FALSE(parse_socket_address("[::1]8080", address, &error));
}

TEST(SocketAddressTest, RejectsHostNames) {
  SocketAddress address;
  std::string error;
  EXPECT_FALSE(parse_socket_address("localhost:3128", address, &error));
  EXPECT_NE(error.find("numeric"), std::string::npos);
}

bool public_literal(const char *host) {
  SocketAddress address;
  EXPECT_TRUE(numeric_address(host, 443, address)) << host;
  return is_public_address(address);
}

TEST(PublicAddressTest, PublicIpv4AndIpv6AddressesArePublic) {
  EXPECT_TRUE(public_literal("8.8.8.8"));
  EXPECT_TRUE(public_literal("104.16.0.1"));
  EXPECT_TRUE(public_literal("172.32.0.1"));  // just past 172.16/12
  EXPECT_TRUE(public_literal("100.128.0.1")); // just past 100.64/10
  EXPECT_TRUE(public_literal("2606:4700::1"));
  EXPECT_TRUE(public_literal("::ffff:8.8.8.8"));
}

TEST(PublicAddressTest, LoopbackAndUnspecifiedAreNotPublic) {
  for (const char *host : {"127.0.0.1", "127.1.2.3", "0.0.0.0", "::1", "::"})
    EXPECT_FALSE(public_literal(host)) << host;
}

TEST(PublicAddressTest, PrivateSharedAndLinkLocalAreNotPublic) {
  for (const char *host : {"10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1", "100.64.0.1",
                           "169.254.169.254", "fe80::1", "fc00::1", "fd12::1"})
    EXPECT_FALSE(public_literal(host)) << host;
}

TEST(PublicAddressTest, MulticastReservedAndBroadcastAreNotPublic) {
  for (const char *host : {"224.0.0.1", "239.1.1.1", "240.0.0.1", "255.255.255.255", "ff02::1"})
    EXPECT_FALSE(public_literal(host)) << host;
}

TEST(PublicAddressTest, Ipv4InsideIpv6IsJudgedAsIpv4) {
  EXPECT_FALSE(public_literal("::ffff:127.0.0.1"));
  EXPECT_FALSE(public_literal("::ffff:169.254.169.254"));
  EXPECT_FALSE(public_literal("64:ff9b::10.0.0.1"));
  EXPECT_TRUE(public_literal("64:ff9b::8.8.8.8"));
}

bool tunnel_allowed(const char *host) {
  SocketAddress address;
  EXPECT_TRUE(numeric_address(host, 443, address)) << host;
  return is_tunnel_destination_allowed(address);
}

TEST(TunnelDestinationTest, PublicAndPrivateAddressesAreAllowed) {
  for (const char *host : {"8.8.8.8", "10.231.0.2", "172.16.0.1", "192.168.1.1", "100.64.0.1",
                           "2606:4700::1", "fd00::1", "::ffff:10.0.0.1", "::ffff:8.8.8.8"})
    EXPECT_TRUE(tunnel_allowed(host)) << host;
}

TEST(TunnelDestinationTest, LoopbackAndUnspecifiedAreRefused) {
  for (const char *host : {"127.0.0.1", "127.255.0.9", "0.0.0.0", "0.1.2.3", "::1", "::"})
    EXPECT_FALSE(tunnel_allowed(host)) << host;
}

TEST(TunnelDestinationTest, LinkLocalAndTheMetadataAddressAreRefused) {
  for (const char *host : {"169.254.169.254", "169.254.0.1", "fe80::1", "febf::1"})
    EXPECT_FALSE(tunnel_allowed(host)) << host;
  EXPECT_TRUE(tunnel_allowed("fec0::1")); // just past fe80::/10
  EXPECT_TRUE(tunnel_allowed("169.253.255.255"));
}

TEST(TunnelDestinationTest, MulticastReservedAndBroadcastAreRefused) {
  for (const char *host : {"224.0.0.1", "239.1.1.1", "240.0.0.1", "255.255.255.255", "ff02::1"})
    EXPECT_FALSE(tunnel_allowed(host)) << host;
}

TEST(TunnelDestinationTest, RefusedIpv4InsideIpv6IsRefused) {
  for (const char *host : {"::ffff:127.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1",
                           "64:ff9b::7f00:1", "::ffff:224.0.0.1"})
    EXPECT_FALSE(tunnel_allowed(host)) << host;
}

} // namespace
} // namespace regcache::core

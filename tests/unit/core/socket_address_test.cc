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

} // namespace
} // namespace regcache::core

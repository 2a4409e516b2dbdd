#include "registry/config/listen_address.h"

#include <gtest/gtest.h>

#include <optional>

namespace regcache::registry {
namespace {

TEST(ParseListenAddressTest, SplitsIpv4AndPort) {
  const std::optional<ListenAddress> address = parse_listen_address("10.1.2.3:8080");
  ASSERT_TRUE(address);
  EXPECT_EQ(address->host, "10.1.2.3");
  EXPECT_EQ(address->port, 8080);
  EXPECT_FALSE(address->is_ipv6);
}

TEST(ParseListenAddressTest, SplitsBracketedIpv6AndPort) {
  const std::optional<ListenAddress> address = parse_listen_address("[fe80::1]:443");
  ASSERT_TRUE(address);
  EXPECT_EQ(address->host, "fe80::1");
  EXPECT_EQ(address->port, 443);
  EXPECT_TRUE(address->is_ipv6);
}

TEST(ParseListenAddressTest, RejectsHostNames) {
  EXPECT_FALSE(parse_listen_address("localhost:3128"));
}

} // namespace
} // namespace regcache::registry

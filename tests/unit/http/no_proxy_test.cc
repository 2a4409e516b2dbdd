#include "http/no_proxy.h"

#include <gtest/gtest.h>

#include <string>

namespace regcache::http {
namespace {

NoProxyList parsed(std::string_view text) {
  std::string problem;
  std::optional<NoProxyList> list = NoProxyList::parse(text, &problem);
  EXPECT_TRUE(list.has_value()) << problem;
  return list.value_or(NoProxyList{});
}

std::string refusal(std::string_view text) {
  std::string problem;
  EXPECT_FALSE(NoProxyList::parse(text, &problem).has_value()) << text;
  return problem;
}

TEST(NoProxyListTest, EmptyListMatchesNothing) {
  const NoProxyList list = parsed("");
  EXPECT_TRUE(list.empty());
  EXPECT_FALSE(list.matches("registry.example"));
  EXPECT_FALSE(list.matches("127.0.0.1"));
}

TEST(NoProxyListTest, StarAloneMatchesEveryHost) {
  const NoProxyList list = parsed(" * ");
  EXPECT_TRUE(list.matches("registry-1.docker.io"));
  EXPECT_TRUE(list.matches("10.1.2.3"));
  EXPECT_TRUE(list.matches("[::1]"));
}

TEST(NoProxyListTest, NameMatchesItselfAndSubdomainsButNotLookalikes) {
  const NoProxyList list = parsed("corp.example");
  EXPECT_TRUE(list.matches("corp.example"));
  EXPECT_TRUE(list.matches("registry.corp.example"));
  EXPECT_TRUE(list.matches("a.b.corp.example"));
  EXPECT_FALSE(list.matches("evilcorp.example"));
  EXPECT_FALSE(list.matches("corp.example.net"));
  EXPECT_FALSE(list.matches("example"));
}

TEST(NoProxyListTest, LeadingDotAndStarDotMeanTheSameAsTheBareSuffix) {
  for (std::string_view text : {".corp.example", "*.corp.example"}) {
    const NoProxyList list = parsed(text);
    EXPECT_TRUE(list.matches("corp.example")) << text;
    EXPECT_TRUE(list.matches("registry.corp.example")) << text;
    EXPECT_FALSE(list.matches("xcorp.example")) << text;
  }
}

TEST(NoProxyListTest, ComparesNamesCaseInsensitivelyAndIgnoresATrailingDot) {
  const NoProxyList list = parsed("Registry.Corp.Example.");
  EXPECT_TRUE(list.matches("registry.corp.example"));
  EXPECT_TRUE(list.matches("REGISTRY.corp.example."));
}

TEST(NoProxyListTest, IgnoresPortsInEntries) {
  const NoProxyList list = parsed("registry.corp:5000, 10.0.0.7:443, [fd00::1]:8443");
  EXPECT_TRUE(list.matches("registry.corp"));
  EXPECT_TRUE(list.matches("10.0.0.7"));
  EXPECT_TRUE(list.matches("[fd00::1]"));
  EXPECT_FALSE(list.matches("10.0.0.8"));
}

TEST(NoProxyListTest, AddressesMatchExactlyAndBracketedIpv6HostsAreUnderstood) {
  const NoProxyList list = parsed("127.0.0.1,::1");
  EXPECT_TRUE(list.matches("127.0.0.1"));
  EXPECT_TRUE(list.matches("[::1]"));
  EXPECT_TRUE(list.matches("::1"));
  EXPECT_FALSE(list.matches("127.0.0.2"));
  EXPECT_FALSE(list.matches("[::2]"));
}

TEST(NoProxyListTest, CidrBlocksMatchAddressesInsideThem) {
  const NoProxyList list = parsed("10.0.0.0/8, 192.168.4.0/22, fd00::/8, 172.16.5.5/32");
  EXPECT_TRUE(list.matches("10.255.0.1"));
  EXPECT_FALSE(list.matches("11.0.0.1"));
  EXPECT_TRUE(list.matches("192.168.7.255"));
  EXPECT_FALSE(list.matches("192.168.8.0"));
  EXPECT_TRUE(list.matches("[fd12::5]"));
  EXPECT_FALSE(list.matches("[fe80::1]"));
  EXPECT_TRUE(list.matches("172.16.5.5"));
  EXPECT_FALSE(list.matches("172.16.5.6"));
}

TEST(NoProxyListTest, CidrBlocksDoNotMatchNames) {
  // Names are never resolved for NO_PROXY: a name is compared as a name.
  const NoProxyList list = parsed("0.0.0.0/0");
  EXPECT_TRUE(list.matches("8.8.8.8"));
  EXPECT_FALSE(list.matches("registry.example"));
}

TEST(NoProxyListTest, AnIpv4BlockDoesNotMatchIpv6AndTheOtherWayRound) {
  const NoProxyList list = parsed("0.0.0.0/0");
  EXPECT_FALSE(list.matches("[::1]"));
  const NoProxyList v6 = parsed("::/0");
  EXPECT_FALSE(v6.matches("10.0.0.1"));
}

TEST(NoProxyListTest, SkipsEmptyEntriesAndWhitespace) {
  const NoProxyList list = parsed(" ,, a.example ,\tb.example,");
  EXPECT_TRUE(list.matches("a.example"));
  EXPECT_TRUE(list.matches("b.example"));
  EXPECT_EQ(list.text(), " ,, a.example ,\tb.example,");
}

TEST(NoProxyListTest, RefusesBadBlocksAndNames) {
  EXPECT_NE(refusal("10.0.0.0/33").find("10.0.0.0/33"), std::string::npos);
  EXPECT_NE(refusal("10.0.0.0/").find("address block"), std::string::npos);
  EXPECT_NE(refusal("fd00::/129").find("address block"), std::string::npos);
  EXPECT_NE(refusal("name.example/8").find("address block"), std::string::npos);
  EXPECT_NE(refusal("bad name").find("'bad name'"), std::string::npos);
  EXPECT_NE(refusal("ok.example, ...").find("'...'"), std::string::npos);
}

TEST(NoProxyListTest, RefusesMoreEntriesThanTheBound) {
  std::string text;
  for (size_t i = 0; i <= NoProxyList::kEntriesMax; ++i)
    text += "h" + std::to_string(i) + ".example,";
  EXPECT_NE(refusal(text).find("more than"), std::string::npos);
}

} // namespace
} // namespace regcache::http

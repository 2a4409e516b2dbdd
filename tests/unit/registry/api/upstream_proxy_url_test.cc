#include "registry/api/upstream_proxy_url.h"

#include <gtest/gtest.h>

#include <string>

#include "registry/api/base64.h"

namespace regcache::registry {
namespace {

http::ProxyConfig parsed(std::string_view text) {
  std::string problem;
  std::optional<http::ProxyConfig> proxy = parse_upstream_proxy_url(text, &problem);
  EXPECT_TRUE(proxy.has_value()) << problem;
  return proxy.value_or(http::ProxyConfig{});
}

std::string refusal(std::string_view text) {
  std::string problem;
  EXPECT_FALSE(parse_upstream_proxy_url(text, &problem).has_value()) << text;
  EXPECT_FALSE(problem.empty());
  return problem;
}

std::string decoded_credentials(const http::ProxyConfig &proxy) {
  EXPECT_TRUE(proxy.authorization.starts_with("Basic ")) << proxy.authorization;
  return base64_decode(std::string_view(proxy.authorization).substr(6)).value_or("?");
}

TEST(UpstreamProxyUrlTest, ReadsHostAndPortWithoutCredentials) {
  const http::ProxyConfig proxy = parsed("http://proxy.corp:3128");
  EXPECT_EQ(proxy.host, "proxy.corp");
  EXPECT_EQ(proxy.port, 3128);
  EXPECT_TRUE(proxy.authorization.empty());
  EXPECT_EQ(proxy.display, "http://proxy.corp:3128");
  EXPECT_TRUE(proxy.enabled());
}

TEST(UpstreamProxyUrlTest, DefaultsToPort80AndAcceptsATrailingSlashAndAnUppercaseScheme) {
  const http::ProxyConfig proxy = parsed("HTTP://Proxy.Corp/");
  EXPECT_EQ(proxy.host, "proxy.corp");
  EXPECT_EQ(proxy.port, 80);
  EXPECT_EQ(proxy.display, "http://proxy.corp:80");
}

TEST(UpstreamProxyUrlTest, UserinfoBecomesABasicProxyAuthorizationAndIsMaskedInTheDisplay) {
  const http::ProxyConfig proxy = parsed("http://alice:s3cret@10.0.0.1:8080");
  EXPECT_EQ(decoded_credentials(proxy), "alice:s3cret");
  EXPECT_EQ(proxy.display, "http://alice:***@10.0.0.1:8080");
  EXPECT_EQ(proxy.display.find("s3cret"), std::string::npos);
}

TEST(UpstreamProxyUrlTest, DecodesPercentEscapesInTheUserAndPassword) {
  const http::ProxyConfig proxy = parsed("http://dom%5Calice:p%40ss%3Aw0rd@proxy:3128");
  EXPECT_EQ(decoded_credentials(proxy), "dom\\alice:p@ss:w0rd");
}

TEST(UpstreamProxyUrlTest, APasswordWithARawAtSignOrSlashEndsAtTheLastAt) {
  const http::ProxyConfig proxy = parsed("http://bob:pa@s/s@proxy:3128");
  EXPECT_EQ(proxy.host, "proxy");
  EXPECT_EQ(decoded_credentials(proxy), "bob:pa@s/s");
}

TEST(UpstreamProxyUrlTest, AUserWithoutPasswordSendsAnEmptyPassword) {
  const http::ProxyConfig proxy = parsed("http://carol@proxy:3128");
  EXPECT_EQ(decoded_credentials(proxy), "carol:");
}

TEST(UpstreamProxyUrlTest, ReadsBracketedIpv6Hosts) {
  const http::ProxyConfig proxy = parsed("http://[fd00::3]:3128");
  EXPECT_EQ(proxy.host, "fd00::3");
  EXPECT_EQ(proxy.port, 3128);
  EXPECT_EQ(proxy.display, "http://[fd00::3]:3128");
}

TEST(UpstreamProxyUrlTest, RefusesHttpsProxiesWithAClearReason) {
  const std::string problem = refusal("https://user:hunter2@proxy:443");
  EXPECT_NE(problem.find("https:// proxies"), std::string::npos) << problem;
  EXPECT_EQ(problem.find("hunter2"), std::string::npos) << problem;
  EXPECT_NE(problem.find("user:***@proxy"), std::string::npos) << problem;
}

TEST(UpstreamProxyUrlTest, RefusesOtherSchemesPathsAndBadHostsWithoutThePassword) {
  for (std::string_view text :
       {"socks5://u:hunter2@proxy:1080", "proxy:3128", "http://u:hunter2@proxy:3128/path",
        "http://u:hunter2@proxy:99999", "http://u:hunter2@", "http://u:hunter2@bad host:1",
        "http://u:hunter2@proxy:3128?x=1"}) {
    const std::string problem = refusal(text);
    EXPECT_EQ(problem.find("hunter2"), std::string::npos) << problem;
  }
}

TEST(UpstreamProxyUrlTest, RefusesAnEmptyUserAndBadEscapes) {
  EXPECT_NE(refusal("http://:pw@proxy:3128").find("empty"), std::string::npos);
  EXPECT_EQ(refusal("http://u:p%zz@proxy:3128").find("p%zz"), std::string::npos);
  refusal("http://u%3:p@proxy:3128");
}

TEST(MaskedProxyUrlTest, ReplacesOnlyThePassword) {
  EXPECT_EQ(masked_proxy_url("http://u:secret@host:1"), "http://u:***@host:1");
  EXPECT_EQ(masked_proxy_url("http://u@host:1"), "http://u@host:1");
  EXPECT_EQ(masked_proxy_url("http://host:1"), "http://host:1");
  EXPECT_EQ(masked_proxy_url("http://u:se/cr@et@host:1"), "http://u:***@host:1");
  EXPECT_EQ(masked_proxy_url("u:secret@host:1"), "u:***@host:1");
}

} // namespace
} // namespace regcache::registry

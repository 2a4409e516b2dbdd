#include "registry/config/upstream_host.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "registry/config/config.h"

namespace regcache::registry {
namespace {

TEST(UpstreamRoutingHostTest, IsTheAuthorityOfTheUrl) {
  const std::optional<UpstreamUrl> url = parse_upstream_url("https://ghcr.io:8443", nullptr);
  ASSERT_TRUE(url);
  EXPECT_EQ(upstream_routing_host(*url), "ghcr.io:8443");
}

TEST(UpstreamRoutingHostTest, IsDockerIoForDockerHub) {
  EXPECT_EQ(upstream_routing_host(kDockerHubUrl), kDockerHubHost);
}

TEST(UpstreamForHostTest, BareHostBecomesAnHttpsUpstream) {
  const std::optional<UpstreamConfig> upstream = upstream_for_host("quay.io", nullptr);
  ASSERT_TRUE(upstream);
  EXPECT_EQ(upstream->host, "quay.io");
  EXPECT_EQ(upstream->url.url(), "https://quay.io");
}

TEST(UpstreamForHostTest, DockerHubNameBecomesDockerIoAtRegistryOne) {
  const std::optional<UpstreamConfig> upstream = upstream_for_host("index.docker.io", nullptr);
  ASSERT_TRUE(upstream);
  EXPECT_EQ(upstream->host, kDockerHubHost);
  EXPECT_EQ(upstream->url.url(), kDockerHubUrl.url());
}

TEST(UpstreamForHostTest, UrlIsRefusedQuotingTheText) {
  std::string error;
  EXPECT_FALSE(upstream_for_host("https://quay.io", &error));
  EXPECT_EQ(error, "expected a host name or host:port, got 'https://quay.io'");
}

} // namespace
} // namespace regcache::registry

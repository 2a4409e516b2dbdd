#include "registry/api/upstream_url.h"

#include <gtest/gtest.h>

#include <string>

namespace regcache::registry {
namespace {

UpstreamUrl parse_ok(std::string_view text) {
  std::string error;
  const std::optional<UpstreamUrl> url = parse_upstream_url(text, &error);
  EXPECT_TRUE(url.has_value()) << text << ": " << error;
  return url.value_or(UpstreamUrl{});
}

TEST(UpstreamUrlTest, HttpsWithoutPortUses443) {
  EXPECT_EQ(parse_ok("https://registry-1.docker.io"),
            (UpstreamUrl{true, "registry-1.docker.io", 443}));
}

TEST(UpstreamUrlTest, HttpWithoutPortUses80) {
  EXPECT_EQ(parse_ok("http://mirror.local"), (UpstreamUrl{false, "mirror.local", 80}));
}

TEST(UpstreamUrlTest, ExplicitPortIsKept) {
  EXPECT_EQ(parse_ok("http://localhost:5000"), (UpstreamUrl{false, "localhost", 5000}));
}

TEST(UpstreamUrlTest, TrailingSlashIsAllowed) {
  EXPECT_EQ(parse_ok("https://ghcr.io/"), (UpstreamUrl{true, "ghcr.io", 443}));
  EXPECT_EQ(parse_ok("https://ghcr.io:8443/"), (UpstreamUrl{true, "ghcr.io", 8443}));
}

TEST(UpstreamUrlTest, SchemeAndHostAreCaseInsensitiveAndLowercased) {
  EXPECT_EQ(parse_ok("HTTPS://Registry.Example.COM"),
            (UpstreamUrl{true, "registry.example.com", 443}));
}

TEST(UpstreamUrlTest, Ipv4HostIsAccepted) {
  EXPECT_EQ(parse_ok("http://10.0.0.5:5000"), (UpstreamUrl{false, "10.0.0.5", 5000}));
}

TEST(UpstreamUrlTest, BracketedIpv6HostIsKeptWithoutBrackets) {
  EXPECT_EQ(parse_ok("http://[::1]:5000"), (UpstreamUrl{false, "::1", 5000}));
  EXPECT_EQ(parse_ok("https://[2001:DB8::1]/"), (UpstreamUrl{true, "2001:db8::1", 443}));
}

TEST(UpstreamUrlTest, RejectsMalformedUrls) {
  for (std::string_view text : {"",
                                "ftp://x",
                                "registry.example.com",
                                "//x",
                                "https://",
                                "https:///",
                                "https://x/v2/",
                                "https://x?y",
                                "https://x#f",
                                "https://user@x",
                                "https://user:pw@x",
                                "https://x:0",
                                "https://x:65536",
                                "https://x:",
                                "https://x:abc",
                                "https://::1",
                                "https://[::1",
                                "https://[::1]x",
                                "https://[::1]:",
                                "https://[]",
                                "https://[fe80::1%25eth0]",
                                "https://a_b",
                                "https://x//",
                                "https://x.",
                                "https://-x",
                                "https://1.2.3.999",
                                "https://:443",
                                "http:/x"}) {
    std::string error;
    EXPECT_FALSE(parse_upstream_url(text, &error)) << text;
  }
}

TEST(UpstreamUrlTest, FailureSetsOneLineReason) {
  std::string error;
  EXPECT_FALSE(parse_upstream_url("https://x:99999", &error));
  EXPECT_NE(error.find("99999"), std::string::npos) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos);
}

TEST(UpstreamUrlTest, NullErrorPointerIsAllowed) {
  EXPECT_FALSE(parse_upstream_url("nope", nullptr));
}

TEST(UpstreamUrlTest, AuthorityOmitsDefaultPort) {
  EXPECT_EQ((UpstreamUrl{true, "ghcr.io", 443}).authority(), "ghcr.io");
  EXPECT_EQ((UpstreamUrl{false, "ghcr.io", 80}).authority(), "ghcr.io");
}

TEST(UpstreamUrlTest, AuthorityIncludesOtherPort) {
  EXPECT_EQ((UpstreamUrl{false, "localhost", 5000}).authority(), "localhost:5000");
  EXPECT_EQ((UpstreamUrl{false, "ghcr.io", 443}).authority(), "ghcr.io:443");
  EXPECT_EQ((UpstreamUrl{true, "ghcr.io", 80}).authority(), "ghcr.io:80");
}

TEST(UpstreamUrlTest, AuthorityBracketsIpv6) {
  EXPECT_EQ((UpstreamUrl{false, "::1", 5000}).authority(), "[::1]:5000");
  EXPECT_EQ((UpstreamUrl{true, "::1", 443}).authority(), "[::1]");
}

TEST(UpstreamUrlTest, UrlRoundTripsThroughParse) {
  for (std::string_view text : {"https://ghcr.io", "http://localhost:5000", "http://[::1]:8080"}) {
    EXPECT_EQ(parse_ok(text).url(), text);
  }
}

TEST(UpstreamUrlTest, DockerHubHostsAreRecognised) {
  EXPECT_TRUE(is_docker_hub(UpstreamUrl{true, "registry-1.docker.io", 443}));
  EXPECT_TRUE(is_docker_hub(UpstreamUrl{true, "index.docker.io", 443}));
  EXPECT_FALSE(is_docker_hub(UpstreamUrl{true, "ghcr.io", 443}));
}

} // namespace
} // namespace regcache::registry

#include "registry/config/credentials.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace regcache::registry {
namespace {

TEST(CredentialsHostTest, DockerHubNamesBecomeAuthDockerIo) {
  for (std::string_view name : {"docker.io", "registry-1.docker.io", "index.docker.io",
                                "https://index.docker.io/v1/", "Docker.IO", "auth.docker.io"}) {
    EXPECT_EQ(credentials_host(name, nullptr), "auth.docker.io") << name;
  }
}

TEST(CredentialsHostTest, OtherHostsAreLowercasedAndKeepTheirPort) {
  EXPECT_EQ(credentials_host("GHCR.io", nullptr), "ghcr.io");
  EXPECT_EQ(credentials_host("registry.local:5000", nullptr), "registry.local:5000");
  EXPECT_EQ(credentials_host("[::1]:5000", nullptr), "[::1]:5000");
}

TEST(CredentialsHostTest, PortFourFortyThreeIsDropped) {
  EXPECT_EQ(credentials_host("quay.io:443", nullptr), "quay.io");
}

TEST(CredentialsHostTest, SchemeAndPathAreDropped) {
  EXPECT_EQ(credentials_host("https://gitlab.example.com/jwt/auth", nullptr), "gitlab.example.com");
  EXPECT_EQ(credentials_host("HTTP://reg.example:8080/", nullptr), "reg.example:8080");
}

TEST(CredentialsHostTest, InvalidHostIsRefusedWithAReason) {
  std::string error;
  EXPECT_EQ(credentials_host("not a host", &error), std::nullopt);
  EXPECT_FALSE(error.empty());
  EXPECT_EQ(credentials_host("", &error), std::nullopt);
  EXPECT_EQ(credentials_host("https:///x", &error), std::nullopt);
  EXPECT_EQ(credentials_host("host:99999", &error), std::nullopt);
  EXPECT_EQ(credentials_host("user@host", &error), std::nullopt);
}

const std::vector<HostCredentials> kCredentials = {
    {"registry.local", "bare", "1"},
    {"registry.local:5000", "ported", "2"},
    {"[fd00::1]", "v6", "3"},
};

TEST(FindCredentialsTest, ExactHostMatches) {
  const HostCredentials *found = find_credentials(kCredentials, "registry.local");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->username, "bare");
}

TEST(FindCredentialsTest, ExactHostAndPortBeatsTheHostAlone) {
  const HostCredentials *found = find_credentials(kCredentials, "registry.local:5000");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->username, "ported");
}

TEST(FindCredentialsTest, HostWithOtherPortFallsBackToTheHostAlone) {
  const HostCredentials *found = find_credentials(kCredentials, "registry.local:6000");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->username, "bare");
}

TEST(FindCredentialsTest, BracketedIpv6WithPortFallsBackToTheAddress) {
  const HostCredentials *found = find_credentials(kCredentials, "[fd00::1]:5000");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->username, "v6");
}

TEST(FindCredentialsTest, MatchIgnoresCase) {
  EXPECT_NE(find_credentials(kCredentials, "Registry.Local"), nullptr);
}

TEST(FindCredentialsTest, HostWithoutPortDoesNotMatchAnEntryWithPort) {
  const std::vector<HostCredentials> only_ported = {{"registry.local:5000", "p", "x"}};
  EXPECT_EQ(find_credentials(only_ported, "registry.local"), nullptr);
}

TEST(FindCredentialsTest, UnknownHostFindsNothing) {
  EXPECT_EQ(find_credentials(kCredentials, "ghcr.io"), nullptr);
  EXPECT_EQ(find_credentials({}, "ghcr.io"), nullptr);
}

TEST(FindCredentialsTest, SuffixOfAHostIsNotAMatch) {
  EXPECT_EQ(find_credentials(kCredentials, "evil-registry.local"), nullptr);
}

TEST(RedactTest, ShowsTheUserAndHidesThePassword) {
  const HostCredentials credentials{"ghcr.io", "robot", "hunter2"};
  EXPECT_EQ(redact(credentials), "robot:***");
}

TEST(AddMissingCredentialsTest, KeepsTheHigherLayersEntryAndAddsNewHosts) {
  std::vector<HostCredentials> merged = {{"quay.io", "high", "1"}};
  const std::vector<HostCredentials> lower = {{"quay.io", "low", "2"}, {"ghcr.io", "g", "3"}};
  add_missing_credentials(merged, lower);
  ASSERT_EQ(merged.size(), 2u);
  EXPECT_EQ(merged[0].username, "high");
  EXPECT_EQ(merged[1].host, "ghcr.io");
}

} // namespace
} // namespace regcache::registry

#include "registry/auth/upstream_auth.h"

#include <gtest/gtest.h>

namespace regcache::registry {
namespace {

http::Endpoint endpoint(bool tls, std::string host, uint16_t port) {
  http::Endpoint out;
  out.tls = tls;
  out.host = host;
  out.port = port;
  out.authority = port == (tls ? 443 : 80) ? host : host + ":" + std::to_string(port);
  return out;
}

UpstreamChoice unconfigured(std::string host) {
  UpstreamChoice choice;
  choice.endpoint = endpoint(true, std::move(host), 443);
  choice.endpoint.public_only = true;
  return choice;
}

TEST(RealmCredentialsTest, TheRegistrysOwnHostAndDomainReceiveThem) {
  EXPECT_TRUE(realm_receives_credentials(unconfigured("ghcr.io"), endpoint(true, "ghcr.io", 443)));
  EXPECT_TRUE(realm_receives_credentials(unconfigured("registry.gitlab.com"),
                                         endpoint(true, "gitlab.com", 443)));
  EXPECT_TRUE(realm_receives_credentials(unconfigured("corp.example"),
                                         endpoint(true, "auth.corp.example", 443)));
}

TEST(RealmCredentialsTest, DockerHubsTokenServerReceivesDockerHubsOnly) {
  EXPECT_TRUE(realm_receives_credentials(unconfigured("registry-1.docker.io"),
                                         endpoint(true, "auth.docker.io", 443)));
  EXPECT_FALSE(realm_receives_credentials(unconfigured("evil.example"),
                                          endpoint(true, "auth.docker.io", 443)));
}

TEST(RealmCredentialsTest, AnotherRegistrysTokenServerDoesNot) {
  EXPECT_FALSE(
      realm_receives_credentials(unconfigured("evil.example"), endpoint(true, "ghcr.io", 443)));
  EXPECT_FALSE(realm_receives_credentials(unconfigured("gitlab.com.evil.example"),
                                          endpoint(true, "gitlab.com", 443)));
  // A bare top-level label is never "the registry's domain".
  EXPECT_FALSE(realm_receives_credentials(unconfigured("evil.com"), endpoint(true, "com", 443)));
}

TEST(RealmCredentialsTest, APlainHttpRealmOfAnHttpsRegistryDoesNot) {
  EXPECT_FALSE(realm_receives_credentials(unconfigured("ghcr.io"), endpoint(false, "ghcr.io", 80)));
}

TEST(RealmCredentialsTest, AnUpstreamConfiguredAsHttpMayUseAnHttpRealm) {
  UpstreamConfig config;
  config.host = "registry.lan:5000";
  UpstreamChoice choice;
  choice.endpoint = endpoint(false, "registry.lan", 5000);
  choice.config = &config;
  EXPECT_TRUE(realm_receives_credentials(choice, endpoint(false, "registry.lan", 5001)));
}

TEST(RealmCredentialsTest, ConfiguredAuthHostsReceiveThemExactly) {
  UpstreamConfig config;
  config.host = "registry.corp";
  config.auth_hosts = {"sso.corp-auth.example", "tokens.example:8443"};
  UpstreamChoice choice;
  choice.endpoint = endpoint(true, "registry.corp", 443);
  choice.config = &config;
  EXPECT_TRUE(realm_receives_credentials(choice, endpoint(true, "sso.corp-auth.example", 443)));
  EXPECT_TRUE(realm_receives_credentials(choice, endpoint(true, "tokens.example", 8443)));
  EXPECT_FALSE(realm_receives_credentials(choice, endpoint(true, "tokens.example", 9443)));
  EXPECT_FALSE(realm_receives_credentials(choice, endpoint(true, "x.sso.corp-auth.example", 443)));
}

} // namespace
} // namespace regcache::registry

#include "registry/upstream/upstream_router.h"

#include <gtest/gtest.h>

#include <array>
#include <string>

namespace regcache::registry {
namespace {

UpstreamConfig upstream_at(std::string host, std::string_view url) {
  UpstreamConfig upstream;
  upstream.host = std::move(host);
  upstream.url = *parse_upstream_url(url, nullptr);
  return upstream;
}

// A default upstream, a registry with a port on plain HTTP, and one on https's default port.
Config three_upstreams() {
  Config config;
  config.upstreams = {upstream_at("docker.io", "http://127.0.0.1:5000"),
                      upstream_at("registry.corp:5000", "http://registry.corp:5000"),
                      upstream_at("secure.corp", "https://secure.corp")};
  return config;
}

TEST(ChooseUpstream, PercentEncodedPortInNsNamesTheConfiguredUpstreamWithItsScheme) {
  // containerd 1.6 sends the colon encoded.
  Config config = three_upstreams();
  UpstreamChoice choice;
  ASSERT_EQ(choose_upstream(config, "ns=registry.corp%3A5000", "team/app", choice),
            UpstreamRefusal::None);
  EXPECT_EQ(choice.config, &config.upstreams[1]);
  EXPECT_FALSE(choice.endpoint.tls);
  EXPECT_EQ(choice.endpoint.port, 5000);
  EXPECT_EQ(choice.name, "team/app");
  EXPECT_FALSE(choice.endpoint.public_only);
  // Lower-case escapes and the unencoded colon name the same upstream.
  ASSERT_EQ(choose_upstream(config, "ns=registry.corp%3a5000", "team/app", choice),
            UpstreamRefusal::None);
  EXPECT_EQ(choice.config, &config.upstreams[1]);
  ASSERT_EQ(choose_upstream(config, "ns=registry.corp:5000", "team/app", choice),
            UpstreamRefusal::None);
  EXPECT_EQ(choice.config, &config.upstreams[1]);
}

TEST(ChooseUpstream, NsWithTheSchemesDefaultPortNamesTheUpstreamWithoutOne) {
  Config config = three_upstreams();
  UpstreamChoice choice;
  ASSERT_EQ(choose_upstream(config, "ns=secure.corp%3A443", "app", choice), UpstreamRefusal::None);
  EXPECT_EQ(choice.config, &config.upstreams[2]);
  EXPECT_TRUE(choice.endpoint.tls);
  // Another port of the same host is another registry.
  ASSERT_EQ(choose_upstream(config, "ns=secure.corp%3A8443", "app", choice), UpstreamRefusal::None);
  EXPECT_EQ(choice.config, nullptr);
  EXPECT_TRUE(choice.endpoint.public_only);
  EXPECT_EQ(choice.endpoint.port, 8443);
}

TEST(ChooseUpstream, NsOfAnIpAndPortMatchesTheUpstreamAtThatAddress) {
  Config config = three_upstreams();
  UpstreamChoice choice;
  ASSERT_EQ(choose_upstream(config, "ns=127.0.0.1%3A5000", "alpine", choice),
            UpstreamRefusal::None);
  EXPECT_EQ(choice.config, &config.upstreams[0]);
}

TEST(ChooseUpstream, BrokenEscapesAndEncodedSeparatorsAreInvalidHosts) {
  Config config = three_upstreams();
  UpstreamChoice choice;
  for (std::string_view query : {"ns=registry.corp%3", "ns=registry.corp%", "ns=registry%zz.corp",
                                 "ns=evil.com%2Fpath", "ns=a%00b", "ns=Registry.Corp"}) {
    EXPECT_EQ(choose_upstream(config, query, "app", choice), UpstreamRefusal::InvalidHost) << query;
    EXPECT_FALSE(ns_param_is_valid(query)) << query;
  }
  EXPECT_TRUE(ns_param_is_valid("ns=registry.corp%3A5000"));
  EXPECT_TRUE(ns_param_is_valid("x=1"));
}

TEST(ChooseUpstream, AnUpstreamConfiguredAsDockerHubGetsDockerHubNames) {
  // Another mirror of Docker Hub configured as docker.io: "alpine" is "library/alpine" there.
  Config config = three_upstreams();
  UpstreamChoice choice;
  ASSERT_EQ(choose_upstream(config, "ns=docker.io", "alpine", choice), UpstreamRefusal::None);
  EXPECT_EQ(choice.config, &config.upstreams[0]);
  EXPECT_EQ(choice.name, "library/alpine");
  ASSERT_EQ(choose_upstream(config, "", "alpine", choice), UpstreamRefusal::None);
  EXPECT_EQ(choice.name, "library/alpine");
  // Any other registry keeps the name as sent.
  ASSERT_EQ(choose_upstream(config, "ns=registry.corp%3A5000", "alpine", choice),
            UpstreamRefusal::None);
  EXPECT_EQ(choice.name, "alpine");
}

TEST(ConnectIsIntercepted, ConfiguredUpstreamsAtTheirPortAndDockerHubUnderItsRegistryName) {
  Config config = three_upstreams();
  config.intercept_hosts.patterns.clear(); // only what is configured
  EXPECT_TRUE(connect_is_intercepted(config, "registry.corp", 5000));
  EXPECT_FALSE(connect_is_intercepted(config, "registry.corp", 443)); // another service
  EXPECT_TRUE(connect_is_intercepted(config, "secure.corp", 443));
  EXPECT_TRUE(connect_is_intercepted(config, "registry-1.docker.io", 443));
  EXPECT_FALSE(connect_is_intercepted(config, "example.com", 443));
}

TEST(ConnectIsIntercepted, TheDefaultListNeedsTheRegistryPolicyToo) {
  Config config;
  EXPECT_TRUE(connect_is_intercepted(config, "ghcr.io", 443));
  EXPECT_TRUE(connect_is_intercepted(config, "quay.io", 443));
  EXPECT_FALSE(connect_is_intercepted(config, "github.com", 443));
  config.registries = *parse_registry_policy("configured", nullptr);
  EXPECT_FALSE(connect_is_intercepted(config, "ghcr.io", 443));
  EXPECT_TRUE(connect_is_intercepted(config, "registry-1.docker.io", 443)); // the default
}

TEST(ConnectIsIntercepted, CredentialHostsAreInterceptedAndIpv6LiteralsNever) {
  Config config;
  config.intercept_hosts.patterns.clear();
  config.credentials.push_back(HostCredentials{"private.corp", "u", "p"});
  EXPECT_TRUE(connect_is_intercepted(config, "private.corp", 443));
  EXPECT_FALSE(connect_is_intercepted(config, "::1", 443));
  EXPECT_FALSE(connect_is_intercepted(config, "", 443));
}

TEST(InterceptedNs, PortFourFourThreeIsLeftOut) {
  std::array<char, 64> out;
  EXPECT_EQ(intercepted_ns("ghcr.io", 443, out), "ghcr.io");
  EXPECT_EQ(intercepted_ns("10.1.2.3", 5000, out), "10.1.2.3:5000");
  std::array<char, 4> small;
  EXPECT_EQ(intercepted_ns("ghcr.io", 443, small), "");
}

} // namespace
} // namespace regcache::registry

#include "registry/upstream/upstream_observer.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <vector>

namespace regcache::registry {
namespace {

Config two_upstreams() {
  Config config;
  UpstreamConfig ghcr;
  ghcr.host = "ghcr.io";
  ghcr.url = UpstreamUrl{true, "ghcr.io", 443};
  config.upstreams.push_back(ghcr);
  config.credentials.push_back(HostCredentials{"ghcr.io", "robot", "secret"});
  return config;
}

struct Exchange {
  http::Endpoint endpoint;
  http::UpstreamRequest request;
  http::ResponseFields fields;

  void report(UpstreamObserver &observer, int rc = 0) {
    const http::ExchangeReport seen{endpoint, request, rc, rc == 0 ? &fields : nullptr,
                                    rc == 0 ? "" : "connect: refused"};
    observer.on_exchange(seen);
  }
};

Exchange registry_request(size_t slot, uint16_t status, std::string_view target = "/v2/") {
  Exchange exchange;
  exchange.endpoint.authority = "ghcr.io";
  exchange.request.method = "GET";
  exchange.request.target = target;
  exchange.request.observed_as = observed_as(slot, ObservedAs::Registry);
  exchange.fields.status = status;
  return exchange;
}

TEST(UpstreamObserver, CountsRegistryAnswersByUpstreamAndStatus) {
  const Config config = two_upstreams();
  UpstreamObservers observers(2);
  observers.hosts().assign(config);
  Exchange ok = registry_request(1, 200);
  ok.report(observers.worker(0));
  ok.report(observers.worker(1));
  registry_request(1, 404).report(observers.worker(0));
  registry_request(0, 503).report(observers.worker(1));
  registry_request(0, 0).report(observers.worker(1), -ECONNREFUSED);

  const UpstreamSlotTotals ghcr = observers.totals(1);
  EXPECT_EQ(ghcr.status_count(200), 2u);
  EXPECT_EQ(ghcr.status_count(404), 1u);
  EXPECT_EQ(ghcr.requests(), 3u);
  const UpstreamSlotTotals hub = observers.totals(0);
  EXPECT_EQ(hub.server_errors(), 1u);
  EXPECT_EQ(hub.no_answer, 1u);
  EXPECT_FALSE(hub.up);
}

TEST(UpstreamObserver, IgnoresUntaggedRequestsAndRegcachesOwnBounds) {
  const Config config = two_upstreams();
  UpstreamObservers observers(1);
  observers.hosts().assign(config);
  Exchange untagged = registry_request(0, 200);
  untagged.request.observed_as = 0;
  untagged.report(observers.worker(0));
  registry_request(0, 0).report(observers.worker(0), -EBUSY);
  EXPECT_EQ(observers.totals(0).requests(), 0u);
  EXPECT_EQ(observers.contact_unix_ms(0), 0);
  EXPECT_TRUE(observers.totals(0).up); // nothing known against it
}

TEST(UpstreamObserver, A401IsReachableAndA5xxIsNot) {
  const Config config = two_upstreams();
  UpstreamObservers observers(1);
  observers.hosts().assign(config);
  registry_request(1, 401).report(observers.worker(0));
  EXPECT_TRUE(observers.totals(1).up);
  EXPECT_GT(observers.contact_unix_ms(1), 0);
  registry_request(1, 502).report(observers.worker(0));
  EXPECT_FALSE(observers.totals(1).up);
}

TEST(UpstreamObserver, CountsTokenRequestsByResult) {
  const Config config = two_upstreams();
  UpstreamObservers observers(1);
  observers.hosts().assign(config);
  for (uint16_t status : {200, 200, 401, 500}) {
    Exchange token = registry_request(1, status, "/token?scope=repository:x:pull");
    token.request.observed_as = observed_as(1, ObservedAs::Token);
    token.report(observers.worker(0));
  }
  const UpstreamSlotTotals totals = observers.totals(1);
  EXPECT_EQ(totals.tokens[static_cast<size_t>(TokenResult::Ok)], 2u);
  EXPECT_EQ(totals.tokens[static_cast<size_t>(TokenResult::Denied)], 1u);
  EXPECT_EQ(totals.tokens[static_cast<size_t>(TokenResult::Failed)], 1u);
  EXPECT_EQ(totals.requests(), 0u); // token requests are not registry requests
}

TEST(UpstreamObserver, FollowsTheNewestRateLimitHeaders) {
  const Config config = two_upstreams();
  UpstreamObservers observers(1);
  observers.hosts().assign(config);
  Exchange first = registry_request(0, 200);
  first.fields.ratelimit_limit = "100;w=21600";
  first.fields.ratelimit_remaining = "76;w=21600";
  first.report(observers.worker(0));
  Exchange garbage = registry_request(0, 200);
  garbage.fields.ratelimit_remaining = "lots";
  garbage.report(observers.worker(0)); // ignored, never shown as a quota
  std::optional<RateLimit> seen = observers.totals(0).ratelimit;
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->limit, 100u);
  EXPECT_EQ(seen->remaining, 76u);
  EXPECT_EQ(seen->window_s, 21600u);
  Exchange later = registry_request(0, 200);
  later.fields.ratelimit_remaining = "75;w=21600";
  later.report(observers.worker(0));
  seen = observers.totals(0).ratelimit;
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->limit, 100u); // kept: the answer did not repeat it
  EXPECT_EQ(seen->remaining, 75u);
}

TEST(UpstreamObserver, RemembersFailuresAnd429sWithoutTheQuery) {
  const Config config = two_upstreams();
  UpstreamObservers observers(1);
  observers.hosts().assign(config);
  registry_request(1, 200).report(observers.worker(0));
  registry_request(1, 429, "/v2/org/app/manifests/v1?ns=ghcr.io").report(observers.worker(0));
  registry_request(1, 0, "/v2/org/app/blobs/sha256:ab").report(observers.worker(0), -ETIME);
  const auto recent = observers.recent().snapshot();
  ASSERT_EQ(recent.size(), 2u);
  EXPECT_EQ(recent[0].upstream, "ghcr.io");
  EXPECT_EQ(recent[0].status, 429);
  EXPECT_EQ(recent[0].path, "/v2/org/app/manifests/v1");
  EXPECT_EQ(recent[1].status, 0);
  EXPECT_EQ(recent[1].error, "connect: refused");
}

TEST(UpstreamObserver, UnconfiguredRegistriesShareOneSlot) {
  const Config config = two_upstreams();
  ObservedHosts hosts;
  const std::vector<uint32_t> slots = hosts.assign(config);
  UpstreamConfig elsewhere;
  EXPECT_EQ(observed_slot(config, slots, nullptr), kUnconfiguredSlot);
  EXPECT_EQ(observed_slot(config, slots, &elsewhere), kUnconfiguredSlot);
  EXPECT_EQ(observed_slot(config, slots, &config.upstreams[1]), 1u);
  EXPECT_EQ(hosts.label(kUnconfiguredSlot), kUnconfiguredUpstreamLabel);
}

TEST(ObservedHosts, AHostKeepsItsSlotWhenAReloadReordersAddsOrRemovesUpstreams) {
  const Config first = two_upstreams(); // docker.io, ghcr.io
  ObservedHosts hosts;
  EXPECT_EQ(hosts.assign(first), (std::vector<uint32_t>{0, 1}));
  Config reloaded;
  reloaded.upstreams.clear();
  for (const char *host : {"quay.io", "ghcr.io"}) { // docker.io removed, quay.io added
    UpstreamConfig upstream;
    upstream.host = host;
    reloaded.upstreams.push_back(upstream);
  }
  EXPECT_EQ(hosts.assign(reloaded), (std::vector<uint32_t>{2, 1}));
  EXPECT_EQ(hosts.count(), 3u); // docker.io's counters stay under its label
  EXPECT_EQ(hosts.label(0), "docker.io");
  EXPECT_EQ(hosts.label(2), "quay.io");
}

TEST(ObservedHosts, HostsPastTheSlotsCountAsUnconfigured) {
  Config many;
  many.upstreams.clear();
  for (size_t i = 0; i < kObservedHostsMax + 2; ++i) {
    UpstreamConfig upstream;
    upstream.host = "registry-" + std::to_string(i) + ".example";
    many.upstreams.push_back(upstream);
  }
  ObservedHosts hosts;
  const std::vector<uint32_t> slots = hosts.assign(many);
  ASSERT_EQ(slots.size(), many.upstreams.size());
  EXPECT_EQ(slots[kObservedHostsMax - 1], kObservedHostsMax - 1);
  EXPECT_EQ(slots[kObservedHostsMax], kUnconfiguredSlot);
  EXPECT_EQ(slots[kObservedHostsMax + 1], kUnconfiguredSlot);
  EXPECT_EQ(hosts.count(), kObservedHostsMax);
}

TEST(UpstreamObserver, TheCredentialLabelIsTheUsernameNeverThePassword) {
  const Config config = two_upstreams();
  EXPECT_EQ(credential_label(config, config.upstreams[1]), "robot");
  EXPECT_EQ(credential_label(config, config.upstreams[0]), "anonymous");
  Config hub = config;
  hub.credentials.push_back(HostCredentials{"auth.docker.io", "hubuser", "pw"});
  EXPECT_EQ(credential_label(hub, hub.upstreams[0]), "hubuser");
}

} // namespace
} // namespace regcache::registry

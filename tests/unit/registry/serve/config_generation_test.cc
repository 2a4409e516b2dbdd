// Configuration generations: built and checked as start-up checks, published by number,
// picked up by a worker at a request boundary, and kept alive by whoever still holds one.
#include "registry/serve/config_generation.h"

#include <gtest/gtest.h>

#include <ctime>

namespace regcache::registry {
namespace {

std::shared_ptr<const ConfigGeneration> build(Config config, uint64_t number,
                                              const ConfigGeneration *previous = nullptr) {
  std::string error;
  auto generation = build_config_generation(std::move(config), number, previous, {}, &error);
  EXPECT_NE(generation, nullptr) << error;
  return generation;
}

TEST(ConfigGeneration, BuildsWhatTheConfigurationAsksFor) {
  Config config;
  config.upstreams.push_back(
      UpstreamConfig{.host = "registry.corp:5000",
                     .url = *parse_upstream_url("https://registry.corp:5000", nullptr),
                     .insecure = true});
  config.upstreams.back().clients = *parse_client_policy("10.0.0.0/8", nullptr);
  config.upstream_read_timeout_ms = 777;
  auto generation = build(config, 1);
  ASSERT_NE(generation, nullptr);
  EXPECT_EQ(generation->number, 1u);
  EXPECT_NE(generation->tls_context, nullptr);
  // The insecure upstream has its own context, keyed by its entry in the generation's config.
  ASSERT_EQ(generation->upstream_tls.size(), 1u);
  EXPECT_TRUE(generation->upstream_tls.contains(&generation->config.upstreams[1]));
  EXPECT_TRUE(generation->blob_hits_need_routing);
  EXPECT_FALSE(generation->client_auth->enabled());
  EXPECT_EQ(generation->upstream_settings().read_timeout_ms, 777u);
  EXPECT_EQ(generation->upstream_settings().tls_context, generation->tls_context.get());
}

TEST(ConfigGeneration, RefusesWhatStartUpWouldRefuse) {
  std::string error;
  Config missing_ca;
  missing_ca.upstream_ca_file = "/nonexistent/regcache-test-ca.pem";
  EXPECT_EQ(build_config_generation(missing_ca, 2, nullptr, {}, &error), nullptr);
  EXPECT_NE(error.find("regcache-test-ca.pem"), std::string::npos) << error;

  error.clear();
  Config missing_users;
  missing_users.htpasswd_file = "/nonexistent/regcache-users";
  EXPECT_EQ(build_config_generation(missing_users, 2, nullptr, {}, &error), nullptr);
  EXPECT_NE(error.find("regcache-users"), std::string::npos) << error;

  error.clear();
  Config bad_tier;
  bad_tier.manifest_ttl.tiers = {ManifestTtlTier{.regex = "(", .ttl_ms = 1, .origin = "test"}};
  EXPECT_EQ(build_config_generation(bad_tier, 2, nullptr, {}, &error), nullptr);
  EXPECT_FALSE(error.empty());
}

TEST(ConfigGeneration, TokensGivenToClientsSurviveAReload) {
  auto first = build(Config{}, 1);
  const std::string token = first->client_auth->tokens().issue("alice", std::time(nullptr));
  auto second = build(Config{}, 2, first.get());
  EXPECT_EQ(second->client_auth->tokens().verify(token, std::time(nullptr)), "alice");
  auto unrelated = build(Config{}, 2);
  EXPECT_FALSE(unrelated->client_auth->tokens().verify(token, std::time(nullptr)).has_value());
}

TEST(ConfigPublisher, AWorkerTakesANewGenerationAtItsNextRefreshOnly) {
  ConfigPublisher publisher;
  publisher.publish(build(Config{}, 1));
  WorkerGeneration worker(publisher);
  EXPECT_FALSE(worker.refresh()) << "nothing new";
  const std::shared_ptr<const ConfigGeneration> held = worker.current();
  EXPECT_EQ(held->number, 1u);

  Config changed;
  changed.manifest_ttl.default_ttl_ms = 1234;
  changed.manifest_ttl.tiers.clear();
  publisher.publish(build(changed, 2));
  EXPECT_EQ(publisher.number(), 2u);
  EXPECT_EQ(worker.current()->number, 1u) << "until the next request boundary";
  EXPECT_TRUE(worker.refresh());
  EXPECT_EQ(worker.current()->number, 2u);
  EXPECT_FALSE(worker.refresh());
  // A request begun under generation 1 still holds it, whole, and gets its TTL answers.
  EXPECT_EQ(held->number, 1u);
  EXPECT_EQ(held.use_count(), 1) << "only the request holds the old generation now";
  EXPECT_EQ(worker.ttl_ms(*worker.current(), nullptr, "team/app", "latest"), 1234u);
  EXPECT_NE(worker.ttl_ms(*held, nullptr, "team/app", "latest"), 1234u);
}

} // namespace
} // namespace regcache::registry

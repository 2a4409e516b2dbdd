// The per-worker memo of choose_upstream: the same answers, made once per (?ns=, name), with the
// upstream's own TLS context; refusals are not remembered; the memo stays within its bound.
#include "registry/upstream/upstream_choices.h"

#include <gtest/gtest.h>

#include <string>

namespace regcache::registry {
namespace {

UpstreamConfig upstream_at(std::string host, std::string_view url) {
  UpstreamConfig upstream;
  upstream.host = std::move(host);
  upstream.url = *parse_upstream_url(url, nullptr);
  return upstream;
}

Config two_upstreams() {
  Config config;
  config.upstreams = {upstream_at("docker.io", "https://registry-1.docker.io"),
                      upstream_at("registry.corp:5000", "http://registry.corp:5000")};
  return config;
}

TEST(UpstreamChoices, AnswersAsChooseUpstreamAndMakesEachChoiceOnce) {
  const Config config = two_upstreams();
  UpstreamChoices choices;
  for (const auto &[query, name] : {std::pair<std::string, std::string>{"", "alpine"},
                                    {"ns=registry.corp%3A5000", "team/app"},
                                    {"ns=docker.io", "library/alpine"},
                                    {"n=10", "registry.corp:5000/team/app"}}) {
    UpstreamChoice direct;
    ASSERT_EQ(choose_upstream(config, query, name, direct), UpstreamRefusal::None);
    UpstreamChoiceRef first;
    ASSERT_EQ(choices.choose(1, config, nullptr, query, name, first), UpstreamRefusal::None);
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(first->name, direct.name) << query << " " << name;
    EXPECT_EQ(first->endpoint.authority, direct.endpoint.authority) << query << " " << name;
    EXPECT_EQ(first->config, direct.config) << query << " " << name;
    UpstreamChoiceRef again;
    ASSERT_EQ(choices.choose(1, config, nullptr, query, name, again), UpstreamRefusal::None);
    EXPECT_EQ(again.get(), first.get()) << "remembered, not made again";
  }
}

TEST(UpstreamChoices, DifferentNsOrNameAreDifferentChoices) {
  const Config config = two_upstreams();
  UpstreamChoices choices;
  UpstreamChoiceRef hub, corp, other_name;
  ASSERT_EQ(choices.choose(1, config, nullptr, "", "team/app", hub), UpstreamRefusal::None);
  ASSERT_EQ(choices.choose(1, config, nullptr, "ns=registry.corp:5000", "team/app", corp),
            UpstreamRefusal::None);
  ASSERT_EQ(choices.choose(1, config, nullptr, "", "team/other", other_name),
            UpstreamRefusal::None);
  EXPECT_NE(hub->config, corp->config);
  EXPECT_EQ(other_name->name, "team/other");
  EXPECT_EQ(hub->name, "team/app");
}

TEST(UpstreamChoices, SetsTheUpstreamsOwnTlsContext) {
  const Config config = two_upstreams();
  // Any distinct address serves: the memo only copies the pointer.
  const auto *context = reinterpret_cast<const tls::ClientContext *>(&config);
  const UpstreamTlsContexts contexts{{&config.upstreams[0], context}};
  UpstreamChoices choices;
  UpstreamChoiceRef hub, corp;
  ASSERT_EQ(choices.choose(1, config, &contexts, "", "alpine", hub), UpstreamRefusal::None);
  ASSERT_EQ(choices.choose(1, config, &contexts, "ns=registry.corp:5000", "app", corp),
            UpstreamRefusal::None);
  EXPECT_EQ(hub->endpoint.tls_context, context);
  EXPECT_EQ(corp->endpoint.tls_context, nullptr);
}

TEST(UpstreamChoices, RefusalsAreAnsweredEveryTimeAndNotRemembered) {
  Config config = two_upstreams();
  config.registries = *parse_registry_policy("configured", nullptr);
  UpstreamChoices choices;
  for (int i = 0; i < 2; ++i) {
    UpstreamChoiceRef out;
    EXPECT_EQ(choices.choose(1, config, nullptr, "ns=elsewhere.example", "app", out),
              UpstreamRefusal::NotServed);
    EXPECT_EQ(out, nullptr);
    EXPECT_EQ(choices.choose(1, config, nullptr, "ns=bad%zz", "app", out),
              UpstreamRefusal::InvalidHost);
  }
}

TEST(UpstreamChoices, ManyPairsStayWithinTheBoundAndStillAnswerRight) {
  const Config config = two_upstreams();
  UpstreamChoices choices;
  for (size_t i = 0; i < 3 * UpstreamChoices::kEntriesMax; ++i) {
    const std::string name = "team/app" + std::to_string(i);
    UpstreamChoiceRef out;
    ASSERT_EQ(choices.choose(1, config, nullptr, "", name, out), UpstreamRefusal::None);
    EXPECT_EQ(out->name, name);
  }
  EXPECT_EQ(choices.remembered(), UpstreamChoices::kEntriesMax);
}

TEST(UpstreamChoices, ANewerGenerationForgetsTheOldAnswers) {
  const Config old_config = two_upstreams();
  Config new_config = two_upstreams();
  new_config.upstreams[1].url = *parse_upstream_url("https://mirror.corp:5001", nullptr);
  UpstreamChoices choices;
  UpstreamChoiceRef before, after;
  ASSERT_EQ(choices.choose(1, old_config, nullptr, "ns=registry.corp:5000", "app", before),
            UpstreamRefusal::None);
  ASSERT_EQ(choices.choose(2, new_config, nullptr, "ns=registry.corp:5000", "app", after),
            UpstreamRefusal::None);
  EXPECT_NE(before.get(), after.get());
  EXPECT_EQ(after->config, &new_config.upstreams[1]);
  EXPECT_EQ(after->endpoint.authority, "mirror.corp:5001");
  EXPECT_EQ(choices.remembered(), 1u);
}

TEST(UpstreamChoices, AnOlderGenerationRoutesWithoutTheMemo) {
  const Config old_config = two_upstreams();
  const Config new_config = two_upstreams();
  UpstreamChoices choices;
  UpstreamChoiceRef current, late, late_again;
  ASSERT_EQ(choices.choose(2, new_config, nullptr, "", "app", current), UpstreamRefusal::None);
  // A request begun before the reload routes with its own configuration, and its answer is
  // not remembered for the newer generation's requests.
  ASSERT_EQ(choices.choose(1, old_config, nullptr, "", "app", late), UpstreamRefusal::None);
  EXPECT_EQ(late->config, &old_config.upstreams[0]);
  ASSERT_EQ(choices.choose(1, old_config, nullptr, "", "app", late_again), UpstreamRefusal::None);
  EXPECT_NE(late.get(), late_again.get());
  UpstreamChoiceRef current_again;
  ASSERT_EQ(choices.choose(2, new_config, nullptr, "", "app", current_again),
            UpstreamRefusal::None);
  EXPECT_EQ(current_again.get(), current.get());
}

} // namespace
} // namespace regcache::registry

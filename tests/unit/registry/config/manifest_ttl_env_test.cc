#include "registry/config/manifest_ttl_env.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "registry/api/ttl_classifier.h"

namespace regcache::registry {
namespace {

constexpr uint64_t kMinuteMs = 60 * 1000;
constexpr uint64_t kHourMs = 60 * kMinuteMs;
constexpr uint64_t kDayMs = 24 * kHourMs;

// An environment made of exactly these variables.
EnvLookup env_of(std::map<std::string, std::string, std::less<>> variables) {
  return
      [variables = std::move(variables)](std::string_view name) -> std::optional<std::string_view> {
        const auto found = variables.find(name);
        if (found == variables.end()) {
          return std::nullopt;
        }
        return std::string_view(found->second);
      };
}

ManifestTtlSettings load_or_fail(const EnvLookup &env) {
  ManifestTtlSettings settings;
  std::string error;
  EXPECT_TRUE(load_manifest_ttl_env(env, settings, &error)) << error;
  return settings;
}

std::string load_error(const EnvLookup &env) {
  ManifestTtlSettings settings;
  std::string error;
  EXPECT_FALSE(load_manifest_ttl_env(env, settings, &error));
  return error;
}

enum class Tier : uint8_t { Primary, Secondary, Default };

struct TagCase {
  std::string name;
  std::string tag;
  Tier tier;
  uint64_t ttl_ms;
  const char *why;
};

// docker-registry-proxy with ENABLE_MANIFEST_CACHE=true and every other variable at its
// default: nginx tries, in order,
//   ~ ^/v2/(.*)/manifests/(stable|nightly|production|test)                10m
//   ~ ^/v2/(.*)/manifests/(.*)(\d|\.)+(.*)(\d|\.)+(.*)(\d|\.)+            60d
//   ~ ^/v2/(.*)/manifests/                                                1h
// on $uri = /v2/<name>/manifests/<tag>: a search anchored at the start by `^`, open at the end.
TEST(ManifestTtlDefaultsTest, SendsEachTagToTheTierDockerRegistryProxysNginxChose) {
  const ManifestTtlSettings settings = load_or_fail(env_of({{"ENABLE_MANIFEST_CACHE", "true"}}));
  std::string error;
  const std::unique_ptr<TtlClassifier> classifier = TtlClassifier::compile(settings, &error);
  ASSERT_NE(classifier, nullptr) << error;
  const std::unique_ptr<MatchScratch> scratch = classifier->make_scratch();

  const std::vector<TagCase> cases = {
      {"library/alpine", "latest", Tier::Default, kHourMs,
       "no primary word at the tag's start, no digit or dot"},
      {"library/alpine", "1.2.3", Tier::Secondary, 60 * kDayMs, "five digits-or-dots"},
      {"library/nginx", "v1.25.0-alpine", Tier::Secondary, 60 * kDayMs,
       "six digits-or-dots; nothing anchors the regex to the tag's start or end"},
      {"org/app", "stable", Tier::Primary, 10 * kMinuteMs, "a primary word"},
      {"org/app", "nightly-2024", Tier::Primary, 10 * kMinuteMs,
       "starts with a primary word; primary is tried before secondary, whose 4 digits lose"},
      {"library/python", "3", Tier::Default, kHourMs, "one digit, secondary needs three"},
      {"library/alpine", "3.19", Tier::Secondary, 60 * kDayMs, "three digits and a dot"},
      {"org/app", "20240101", Tier::Secondary, 60 * kDayMs, "eight digits"},
      {"org/app", "production", Tier::Primary, 10 * kMinuteMs, "a primary word"},
      {"org/app", "test", Tier::Primary, 10 * kMinuteMs, "a primary word"},
      {"org/app", "testing", Tier::Primary, 10 * kMinuteMs,
       "nothing anchors the end: any tag starting with `test` matches"},
      {"org/app", "main", Tier::Default, kHourMs, "no primary word, no digit or dot"},
      {"org/app", "mytest", Tier::Default, kHourMs,
       "the fragment follows `/manifests/` directly: a primary word inside the tag is not enough"},
      {"library/python3", "latest", Tier::Default, kHourMs,
       "digits in the repository name do not count: the fragment starts after `/manifests/`"},
      {"org/app2024/x", "latest", Tier::Default, kHourMs,
       "same; an unanchored search over the whole path would have found 2,0,2,4 and said 60d"},
      {"acme/manifests/stable", "latest", Tier::Primary, 10 * kMinuteMs,
       "nginx's edge case, reproduced: `(.*)` backtracks to the first `/manifests/`, inside the "
       "name, and `stable` follows it"},
  };
  for (const TagCase &c : cases) {
    const TtlDecision decision = classifier->classify(c.name, c.tag, *scratch);
    const Tier tier = decision.tier_index == TtlDecision::kDefaultTier ? Tier::Default
                      : decision.tier_index == 0                       ? Tier::Primary
                                                                       : Tier::Secondary;
    EXPECT_EQ(tier, c.tier) << c.name << ":" << c.tag << " (" << c.why << ")";
    EXPECT_EQ(decision.ttl_ms, c.ttl_ms) << c.name << ":" << c.tag << " (" << c.why << ")";
  }
}

TEST(ManifestTtlEnvTest, UsesDockerRegistryProxysDefaultsForUnsetVariables) {
  const ManifestTtlSettings settings = load_or_fail(env_of({}));
  EXPECT_TRUE(settings.enabled); // regcache's own default, kept while the variable is unset
  ASSERT_EQ(settings.tiers.size(), 2u);
  EXPECT_EQ(settings.tiers[0].regex, "(stable|nightly|production|test)");
  EXPECT_EQ(settings.tiers[0].ttl_ms, 10 * kMinuteMs);
  EXPECT_EQ(settings.tiers[0].origin, "MANIFEST_CACHE_PRIMARY_REGEX");
  EXPECT_EQ(settings.tiers[1].regex, R"((.*)(\d|\.)+(.*)(\d|\.)+(.*)(\d|\.)+)");
  EXPECT_EQ(settings.tiers[1].ttl_ms, 60 * kDayMs);
  EXPECT_EQ(settings.tiers[1].origin, "MANIFEST_CACHE_SECONDARY_REGEX");
  EXPECT_EQ(settings.default_ttl_ms, kHourMs);
}

TEST(ManifestTtlEnvTest, KeepsTheCallersEnabledSettingWhileTheVariableIsUnset) {
  ManifestTtlSettings settings;
  settings.enabled = false;
  std::string error;
  ASSERT_TRUE(load_manifest_ttl_env(env_of({}), settings, &error)) << error;
  EXPECT_FALSE(settings.enabled);
}

TEST(ManifestTtlEnvTest, EnablesOnExactlyTrue) {
  ManifestTtlSettings settings;
  settings.enabled = false;
  std::string error;
  ASSERT_TRUE(load_manifest_ttl_env(env_of({{"ENABLE_MANIFEST_CACHE", "true"}}), settings, &error));
  EXPECT_TRUE(settings.enabled);
  EXPECT_EQ(settings.tiers.size(), 2u);
}

TEST(ManifestTtlEnvTest, DisablesOnAnyOtherValueAsTheEntrypointsExactComparisonDid) {
  for (const char *value : {"false", "TRUE", "True", "1", "yes", "on", "", " true", "true "}) {
    const ManifestTtlSettings settings = load_or_fail(env_of({{"ENABLE_MANIFEST_CACHE", value}}));
    EXPECT_FALSE(settings.enabled) << "ENABLE_MANIFEST_CACHE='" << value << "'";
  }
}

TEST(ManifestTtlEnvTest, IgnoresTheTierVariablesWhenDisabled) {
  ManifestTtlSettings settings;
  std::string error;
  EXPECT_TRUE(load_manifest_ttl_env(env_of({{"ENABLE_MANIFEST_CACHE", "false"},
                                            {"MANIFEST_CACHE_PRIMARY_REGEX", "(unclosed"},
                                            {"MANIFEST_CACHE_PRIMARY_TIME", "10x"},
                                            {"MANIFEST_CACHE_DEFAULT_TIME", "soon"}}),
                                    settings, &error))
      << error;
  EXPECT_FALSE(settings.enabled);
}

TEST(ManifestTtlEnvTest, OmitsATierWhoseRegexIsEmptyWithoutReadingItsTime) {
  const ManifestTtlSettings settings = load_or_fail(
      env_of({{"MANIFEST_CACHE_PRIMARY_REGEX", ""}, {"MANIFEST_CACHE_PRIMARY_TIME", "10x"}}));
  ASSERT_EQ(settings.tiers.size(), 1u);
  EXPECT_EQ(settings.tiers[0].origin, "MANIFEST_CACHE_SECONDARY_REGEX");
}

TEST(ManifestTtlEnvTest, OmitsBothTiersLeavingOnlyTheDefault) {
  const ManifestTtlSettings settings =
      load_or_fail(env_of({{"MANIFEST_CACHE_PRIMARY_REGEX", ""},
                           {"MANIFEST_CACHE_SECONDARY_REGEX", ""},
                           {"MANIFEST_CACHE_DEFAULT_TIME", "5m"}}));
  EXPECT_TRUE(settings.tiers.empty());
  EXPECT_EQ(settings.default_ttl_ms, 5 * kMinuteMs);
}

TEST(ManifestTtlEnvTest, TakesCustomRegexesAndTimes) {
  const ManifestTtlSettings settings =
      load_or_fail(env_of({{"MANIFEST_CACHE_PRIMARY_REGEX", "(latest|edge)"},
                           {"MANIFEST_CACHE_PRIMARY_TIME", "1h30m"},
                           {"MANIFEST_CACHE_SECONDARY_TIME", "1y"}}));
  ASSERT_EQ(settings.tiers.size(), 2u);
  EXPECT_EQ(settings.tiers[0].regex, "(latest|edge)");
  EXPECT_EQ(settings.tiers[0].ttl_ms, 90 * kMinuteMs);
  EXPECT_EQ(settings.tiers[1].ttl_ms, 365 * kDayMs);
}

TEST(ManifestTtlEnvTest, NamesTheVariableOfAnInvalidTime) {
  EXPECT_EQ(load_error(env_of({{"MANIFEST_CACHE_PRIMARY_TIME", "10x"}})),
            "MANIFEST_CACHE_PRIMARY_TIME=10x: not an nginx duration");
  EXPECT_EQ(load_error(env_of({{"MANIFEST_CACHE_DEFAULT_TIME", "1h 30m"}})),
            "MANIFEST_CACHE_DEFAULT_TIME=1h 30m: not an nginx duration");
}

TEST(ManifestTtlEnvTest, NamesTheVariableOfARegexThatDoesNotCompile) {
  const std::string error = load_error(env_of({{"MANIFEST_CACHE_SECONDARY_REGEX", "(.*"}}));
  EXPECT_EQ(error.rfind("MANIFEST_CACHE_SECONDARY_REGEX=(.*: not a PCRE2 regex: ", 0), 0u) << error;
}

TEST(ManifestTtlEnvTest, LeavesTheSettingsUnchangedOnError) {
  ManifestTtlSettings settings;
  settings.tiers = {{"keep", 1, "config"}};
  settings.default_ttl_ms = 42;
  std::string error;
  EXPECT_FALSE(
      load_manifest_ttl_env(env_of({{"MANIFEST_CACHE_DEFAULT_TIME", "never"}}), settings, &error));
  ASSERT_EQ(settings.tiers.size(), 1u);
  EXPECT_EQ(settings.tiers[0].regex, "keep");
  EXPECT_EQ(settings.default_ttl_ms, 42u);
}

TEST(ManifestTtlEnvTest, TakesAnEmptyTimeAsUnset) {
  const ManifestTtlSettings settings = load_or_fail(
      env_of({{"MANIFEST_CACHE_SECONDARY_TIME", ""}, {"MANIFEST_CACHE_DEFAULT_TIME", ""}}));
  EXPECT_EQ(settings.tiers[1].ttl_ms, 60 * kDayMs);
  EXPECT_EQ(settings.default_ttl_ms, kHourMs);
}

TEST(ManifestTtlEnvTest, AcceptsWhitespaceAroundATimeAsNginxDid) {
  const ManifestTtlSettings settings =
      load_or_fail(env_of({{"MANIFEST_CACHE_PRIMARY_TIME", " 10m "}}));
  EXPECT_EQ(settings.tiers[0].ttl_ms, 10 * kMinuteMs);
}

TEST(ManifestTtlEnvTest, DropsTrailingWhitespaceFromARegexAsNginxsTokenizerDid) {
  const ManifestTtlSettings settings =
      load_or_fail(env_of({{"MANIFEST_CACHE_PRIMARY_REGEX", "(stable|edge)  "}}));
  EXPECT_EQ(settings.tiers[0].regex, "(stable|edge)");
}

TEST(ManifestTtlEnvTest, KeepsAWhitespaceOnlyRegexAsAnEmptyFragmentThatMatchesEveryTag) {
  // Not empty for the entrypoint's test, so the tier is written; nginx then read
  // `location ~ ^/v2/(.*)/manifests/` and the primary tier took every tag.
  const ManifestTtlSettings settings =
      load_or_fail(env_of({{"MANIFEST_CACHE_PRIMARY_REGEX", " "}}));
  ASSERT_EQ(settings.tiers.size(), 2u);
  EXPECT_EQ(settings.tiers[0].regex, "");
  std::string error;
  auto classifier = TtlClassifier::compile(settings, &error);
  ASSERT_NE(classifier, nullptr) << error;
  auto scratch = classifier->make_scratch();
  EXPECT_EQ(classifier->ttl_ms("library/alpine", "3.19", *scratch), 10 * kMinuteMs);
}

TEST(ManifestTtlEnvTest, RefusesWhitespaceInsideARegexWhichNginxCouldNotLoad) {
  EXPECT_EQ(load_error(env_of({{"MANIFEST_CACHE_PRIMARY_REGEX", "(stable| edge)"}})),
            "MANIFEST_CACHE_PRIMARY_REGEX=(stable| edge): whitespace inside the regex "
            "(docker-registry-proxy's nginx could not load it)");
}

TEST(ManifestTtlEnvTest, UnescapesARegexAsNginxsConfigParserDid) {
  // nginx turned `\\` into `\` inside the location token; `\d` and `\.` pass unchanged.
  const ManifestTtlSettings settings =
      load_or_fail(env_of({{"MANIFEST_CACHE_PRIMARY_REGEX", R"(v\\d+\.x\ y)"}}));
  EXPECT_EQ(settings.tiers[0].regex, R"(v\d+\.x\ y)");
}

} // namespace
} // namespace regcache::registry

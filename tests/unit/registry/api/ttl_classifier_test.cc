#include "registry/api/ttl_classifier.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <gtest/gtest.h>
#include <pcre2.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace regcache::registry {
namespace {

constexpr uint64_t kPrimaryMs = 10 * 60 * 1000;
constexpr uint64_t kSecondaryMs = 60ull * 24 * 3600 * 1000;
constexpr uint64_t kDefaultMs = 3600 * 1000;

ManifestTtlSettings two_tier_settings(std::string primary, std::string secondary) {
  ManifestTtlSettings settings;
  settings.tiers = {{std::move(primary), kPrimaryMs, "primary"},
                    {std::move(secondary), kSecondaryMs, "secondary"}};
  settings.default_ttl_ms = kDefaultMs;
  return settings;
}

ManifestTtlSettings docker_registry_proxy_defaults() {
  return two_tier_settings("(stable|nightly|production|test)",
                           R"((.*)(\d|\.)+(.*)(\d|\.)+(.*)(\d|\.)+)");
}

std::unique_ptr<TtlClassifier>
compile_or_fail(const ManifestTtlSettings &settings,
                TtlClassifier::JitMode jit_mode = TtlClassifier::JitMode::Auto) {
  std::string error;
  std::unique_ptr<TtlClassifier> classifier = TtlClassifier::compile(settings, &error, jit_mode);
  EXPECT_NE(classifier, nullptr) << error;
  return classifier;
}

struct Reference {
  std::string name;
  std::string tag;
};

const std::vector<Reference> kMixedReferences = {
    {"library/alpine", "latest"},    {"library/alpine", "3.19"},
    {"library/nginx", "1.25.3"},     {"library/node", "v20.11.0-alpine"},
    {"org/app", "stable"},           {"org/app", "nightly-2024"},
    {"org/app", "testing"},          {"org/app", "main"},
    {"library/python3", "latest"},   {"org/app2024/x", "latest"},
    {"acme/manifests/stable", "v1"}, {"library/redis", "7"},
};

TEST(TtlClassifierTest, ReturnsTheDefaultWhenThereAreNoTiers) {
  ManifestTtlSettings settings;
  settings.default_ttl_ms = 1234;
  auto classifier = compile_or_fail(settings);
  auto scratch = classifier->make_scratch();
  const TtlDecision decision = classifier->classify("library/alpine", "3.19", *scratch);
  EXPECT_EQ(decision.tier_index, TtlDecision::kDefaultTier);
  EXPECT_EQ(decision.ttl_ms, 1234u);
}

TEST(TtlClassifierTest, AnswersZeroForEveryTagWhenDisabled) {
  ManifestTtlSettings settings = docker_registry_proxy_defaults();
  settings.enabled = false;
  auto classifier = compile_or_fail(settings);
  EXPECT_FALSE(classifier->enabled());
  auto scratch = classifier->make_scratch();
  for (const Reference &reference : kMixedReferences) {
    EXPECT_EQ(classifier->ttl_ms(reference.name, reference.tag, *scratch), 0u) << reference.tag;
  }
}

TEST(TtlClassifierTest, DoesNotCompileTheTiersOfADisabledPolicy) {
  ManifestTtlSettings settings = two_tier_settings("(unclosed", "x");
  settings.enabled = false;
  std::string error;
  EXPECT_NE(TtlClassifier::compile(settings, &error), nullptr);
  EXPECT_EQ(error, "");
}

TEST(TtlClassifierTest, TakesTheFirstMatchingTierInOrder) {
  // Both tiers match "stable-1.2.3"; the first configured wins, as with nginx's regex locations.
  auto classifier = compile_or_fail(two_tier_settings("stable", "(.*)(\\d|\\.)+"));
  auto scratch = classifier->make_scratch();
  const TtlDecision decision = classifier->classify("org/app", "stable-1.2.3", *scratch);
  EXPECT_EQ(decision.tier_index, 0u);
  EXPECT_EQ(decision.ttl_ms, kPrimaryMs);
  EXPECT_EQ(classifier->tier_origin(decision.tier_index), "primary");
}

TEST(TtlClassifierTest, NamesTheTierOriginAndOffsetOfARegexThatDoesNotCompile) {
  std::string error;
  auto classifier = TtlClassifier::compile(two_tier_settings("ok", "(stable"), &error);
  EXPECT_EQ(classifier, nullptr);
  EXPECT_EQ(error.rfind("secondary=(stable: not a PCRE2 regex: ", 0), 0u) << error;
  EXPECT_NE(error.find("missing closing parenthesis"), std::string::npos) << error;
  EXPECT_NE(error.find("at offset 7"), std::string::npos) << error;
}

TEST(TtlClassifierTest, MatchesTagsCaseSensitivelyLikeNginxTilde) {
  auto classifier = compile_or_fail(docker_registry_proxy_defaults());
  auto scratch = classifier->make_scratch();
  EXPECT_EQ(classifier->ttl_ms("org/app", "stable", *scratch), kPrimaryMs);
  EXPECT_EQ(classifier->ttl_ms("org/app", "Stable", *scratch), kDefaultMs);
  EXPECT_EQ(classifier->ttl_ms("org/app", "STABLE", *scratch), kDefaultMs);
}

TEST(TtlClassifierTest, LetsADollarInTheRegexAnchorTheEndOfTheTag) {
  auto classifier = compile_or_fail(two_tier_settings("(stable|test)$", "x^"));
  auto scratch = classifier->make_scratch();
  EXPECT_EQ(classifier->ttl_ms("org/app", "test", *scratch), kPrimaryMs);
  EXPECT_EQ(classifier->ttl_ms("org/app", "testing", *scratch), kDefaultMs);
}

TEST(TtlClassifierTest, PastesTheRegexWithoutGroupingSoATopLevelBarSearchesTheWholePath) {
  // nginx compiled "^/v2/(.*)/manifests/stable|latest": the second alternative is unanchored
  // and searches the whole URI, repository name included.
  auto classifier = compile_or_fail(two_tier_settings("stable|latest", "x^"));
  auto scratch = classifier->make_scratch();
  EXPECT_EQ(classifier->ttl_ms("org/app", "latest", *scratch), kPrimaryMs);
  EXPECT_EQ(classifier->ttl_ms("ci/latest-tools", "v1", *scratch), kPrimaryMs);
  EXPECT_EQ(classifier->ttl_ms("org/app", "v1", *scratch), kDefaultMs);
}

TEST(TtlClassifierTest, FitsTheLongestNameAndTag) {
  auto classifier = compile_or_fail(docker_registry_proxy_defaults());
  auto scratch = classifier->make_scratch();
  const std::string name(kRepositoryNameBytesMax, 'a');
  EXPECT_EQ(classifier->ttl_ms(name, std::string(kTagBytesMax, '7'), *scratch), kSecondaryMs);
  EXPECT_EQ(classifier->ttl_ms(name, std::string(kTagBytesMax, 'x'), *scratch), kDefaultMs);
  EXPECT_EQ(classifier->ttl_ms(name, "test" + std::string(kTagBytesMax - 4, 'x'), *scratch),
            kPrimaryMs);
}

TEST(TtlClassifierTest, GivesTheSameAnswersWithAndWithoutJit) {
  auto jit = compile_or_fail(docker_registry_proxy_defaults(), TtlClassifier::JitMode::Auto);
  auto interpreter = compile_or_fail(docker_registry_proxy_defaults(), TtlClassifier::JitMode::Off);
  EXPECT_FALSE(interpreter->jit_active());
  auto jit_scratch = jit->make_scratch();
  auto interpreter_scratch = interpreter->make_scratch();
  for (const Reference &reference : kMixedReferences) {
    const TtlDecision with_jit = jit->classify(reference.name, reference.tag, *jit_scratch);
    const TtlDecision without_jit =
        interpreter->classify(reference.name, reference.tag, *interpreter_scratch);
    EXPECT_EQ(with_jit.tier_index, without_jit.tier_index)
        << reference.name << ":" << reference.tag;
    EXPECT_EQ(with_jit.ttl_ms, without_jit.ttl_ms) << reference.name << ":" << reference.tag;
  }
}

TEST(TtlClassifierTest, UsesJitWhenPcre2HasIt) {
  uint32_t jit_built_in = 0;
  pcre2_config(PCRE2_CONFIG_JIT, &jit_built_in);
  if (jit_built_in != 1) {
    GTEST_SKIP() << "this PCRE2 has no JIT; the classifier uses the interpreter";
  }
  EXPECT_TRUE(compile_or_fail(docker_registry_proxy_defaults())->jit_active());
}

TEST(TtlClassifierTest, AllocatesNothingPerClassificationOnceTheScratchIsMade) {
  for (const TtlClassifier::JitMode jit_mode :
       {TtlClassifier::JitMode::Auto, TtlClassifier::JitMode::Off}) {
    auto classifier = compile_or_fail(docker_registry_proxy_defaults(), jit_mode);
    auto scratch = classifier->make_scratch();
    const uint64_t allocations_after_setup = scratch->pcre2_allocations();
    for (int round = 0; round < 100; ++round) {
      for (const Reference &reference : kMixedReferences) {
        classifier->classify(reference.name, reference.tag, *scratch);
      }
    }
    EXPECT_EQ(scratch->pcre2_allocations(), allocations_after_setup)
        << "JIT " << (jit_mode == TtlClassifier::JitMode::Auto ? "auto" : "off");
  }
}

TEST(TtlClassifierTest, GivesEachThreadTheSameAnswersWithItsOwnScratch) {
  auto classifier = compile_or_fail(docker_registry_proxy_defaults());
  std::vector<uint64_t> expected;
  {
    auto scratch = classifier->make_scratch();
    for (const Reference &reference : kMixedReferences) {
      expected.push_back(classifier->ttl_ms(reference.name, reference.tag, *scratch));
    }
  }
  constexpr int kThreads = 4;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int thread_index = 0; thread_index < kThreads; ++thread_index) {
    threads.emplace_back([&, thread_index] {
      auto scratch = classifier->make_scratch();
      for (int round = 0; round < 1000; ++round) {
        for (size_t i = 0; i < kMixedReferences.size(); ++i) {
          const Reference &reference = kMixedReferences[i];
          if (classifier->ttl_ms(reference.name, reference.tag, *scratch) != expected[i]) {
            ++mismatches[thread_index];
          }
        }
      }
    });
  }
  for (std::thread &thread : threads) {
    thread.join();
  }
  EXPECT_EQ(mismatches, std::vector<int>(kThreads, 0));
}

TEST(TtlClassifierTest, SkipsATierWhoseMatchHitsAPcre2LimitAndCountsIt) {
  // Nested quantifiers on a long near-miss exceed PCRE2's default match limit (10 million).
  for (const TtlClassifier::JitMode jit_mode :
       {TtlClassifier::JitMode::Auto, TtlClassifier::JitMode::Off}) {
    auto classifier = compile_or_fail(two_tier_settings("(a+)+$", "a"), jit_mode);
    auto scratch = classifier->make_scratch();
    const std::string near_miss = std::string(40, 'a') + "-";
    const TtlDecision decision = classifier->classify("org/app", near_miss, *scratch);
    EXPECT_EQ(decision.tier_index, 1u);
    EXPECT_EQ(decision.ttl_ms, kSecondaryMs);
    EXPECT_EQ(scratch->match_errors(), 1u);
  }
}

} // namespace
} // namespace regcache::registry

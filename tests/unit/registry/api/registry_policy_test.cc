#include "registry/api/registry_policy.h"

#include <gtest/gtest.h>

namespace regcache::registry {
namespace {

RegistryPolicy parsed(std::string_view text) {
  std::string problem;
  std::optional<RegistryPolicy> policy = parse_registry_policy(text, &problem);
  EXPECT_TRUE(policy.has_value()) << text << ": " << problem;
  return policy.value_or(RegistryPolicy{});
}

TEST(RegistryPolicyTest, AnyAllowsEveryHost) {
  EXPECT_TRUE(registry_policy_allows(parsed("any"), "ghcr.io"));
  EXPECT_TRUE(registry_policy_allows(RegistryPolicy{}, "quay.io")); // the default
}

TEST(RegistryPolicyTest, ConfiguredAllowsNoUnconfiguredHost) {
  EXPECT_FALSE(registry_policy_allows(parsed("configured"), "ghcr.io"));
}

TEST(RegistryPolicyTest, ListedHostsMatchCaseInsensitivelyAndAnyPortWhenNoneIsGiven) {
  const RegistryPolicy policy = parsed("ghcr.io, Quay.io,registry.corp:5000");
  EXPECT_TRUE(registry_policy_allows(policy, "ghcr.io"));
  EXPECT_TRUE(registry_policy_allows(policy, "GHCR.io:443"));
  EXPECT_TRUE(registry_policy_allows(policy, "quay.io"));
  EXPECT_TRUE(registry_policy_allows(policy, "registry.corp:5000"));
  EXPECT_FALSE(registry_policy_allows(policy, "registry.corp:5001"));
  EXPECT_FALSE(registry_policy_allows(policy, "evil.io"));
  EXPECT_FALSE(registry_policy_allows(policy, "notghcr.io"));
}

TEST(RegistryPolicyTest, WildcardMatchesSubdomainsOnlyNotTheDomainItself) {
  const RegistryPolicy policy = parsed("*.gcr.io");
  EXPECT_TRUE(registry_policy_allows(policy, "eu.gcr.io"));
  EXPECT_TRUE(registry_policy_allows(policy, "a.b.gcr.io:443"));
  EXPECT_FALSE(registry_policy_allows(policy, "gcr.io"));
  EXPECT_FALSE(registry_policy_allows(policy, "evilgcr.io"));
}

TEST(RegistryPolicyTest, RejectsElementsThatAreNotHosts) {
  std::string problem;
  EXPECT_FALSE(parse_registry_policy("ghcr.io,/path", &problem).has_value());
  EXPECT_NE(problem.find("'/path'"), std::string::npos) << problem;
  EXPECT_FALSE(parse_registry_policy(" , ", &problem).has_value());
  EXPECT_FALSE(parse_registry_policy("", &problem).has_value());
}

} // namespace
} // namespace regcache::registry

#include "registry/auth/auth_scope.h"

#include <gtest/gtest.h>

namespace regcache::registry {
namespace {

TEST(AuthScopeTest, BuildsRepositoryPullScope) {
  EXPECT_EQ(repository_pull_scope("library/alpine"), "repository:library/alpine:pull");
}

TEST(AuthScopeTest, AddsPrefixToRepositoryScope) {
  EXPECT_EQ(add_prefix_to_scope("repository:library/nginx:pull", "hub"),
            "repository:hub/library/nginx:pull");
}

TEST(AuthScopeTest, KeepsActionListWhenAddingPrefix) {
  EXPECT_EQ(add_prefix_to_scope("repository:a/b:pull,push", "hub"), "repository:hub/a/b:pull,push");
}

TEST(AuthScopeTest, AddsPrefixToEverySpaceSeparatedScope) {
  EXPECT_EQ(add_prefix_to_scope("repository:a:pull repository:b/c:pull,push", "hub"),
            "repository:hub/a:pull repository:hub/b/c:pull,push");
}

TEST(AuthScopeTest, LeavesOtherResourceTypesAlone) {
  EXPECT_EQ(add_prefix_to_scope("registry:catalog:* repository:a:pull", "hub"),
            "registry:catalog:* repository:hub/a:pull");
  EXPECT_EQ(add_prefix_to_scope("repository(plugin):a:pull", "hub"), "repository(plugin):a:pull");
}

TEST(AuthScopeTest, EmptyPrefixLeavesScopeUnchanged) {
  EXPECT_EQ(add_prefix_to_scope("repository:a:pull", ""), "repository:a:pull");
}

TEST(AuthScopeTest, IgnoresTrailingSlashOnPrefix) {
  EXPECT_EQ(add_prefix_to_scope("repository:a:pull", "hub/"), "repository:hub/a:pull");
  EXPECT_EQ(add_prefix_to_scope("repository:a:pull", "/"), "repository:a:pull");
}

TEST(AuthScopeTest, AcceptsMultiLevelPrefix) {
  EXPECT_EQ(add_prefix_to_scope("repository:a:pull", "cache/hub"), "repository:cache/hub/a:pull");
}

TEST(AuthScopeTest, CollapsesExtraSpacesBetweenScopes) {
  EXPECT_EQ(add_prefix_to_scope("  repository:a:pull   repository:b:pull ", "p"),
            "repository:p/a:pull repository:p/b:pull");
}

TEST(AuthScopeTest, EmptyScopeGivesEmptyResult) {
  EXPECT_EQ(add_prefix_to_scope("", "hub"), "");
  EXPECT_EQ(add_prefix_to_scope("   ", "hub"), "");
}

TEST(AuthScopeTest, CacheKeyIsTheSameForReorderedScopes) {
  EXPECT_EQ(token_cache_key("ghcr.io", "repository:a:pull repository:b:pull", "anonymous"),
            token_cache_key("ghcr.io", "repository:b:pull  repository:a:pull", "anonymous"));
}

TEST(AuthScopeTest, CacheKeyIgnoresRepeatedScopes) {
  EXPECT_EQ(token_cache_key("u", "repository:a:pull repository:a:pull", "c"),
            token_cache_key("u", "repository:a:pull", "c"));
}

TEST(AuthScopeTest, CacheKeyDiffersByEachField) {
  const std::string key = token_cache_key("ghcr.io", "repository:a:pull", "user");
  EXPECT_NE(key, token_cache_key("quay.io", "repository:a:pull", "user"));
  EXPECT_NE(key, token_cache_key("ghcr.io", "repository:a:pull,push", "user"));
  EXPECT_NE(key, token_cache_key("ghcr.io", "repository:a:pull", "other"));
}

TEST(AuthScopeTest, CacheKeyFieldsCannotBleedIntoEachOther) {
  EXPECT_NE(token_cache_key("ab", "", "c"), token_cache_key("a", "", "bc"));
  EXPECT_NE(token_cache_key("a", "x", "1:b"), token_cache_key("a", "1:x", "b"));
  EXPECT_NE(token_cache_key("a", "x y", ""), token_cache_key("a", "x", "y"));
  EXPECT_NE(token_cache_key("", "", ""), token_cache_key("", " ", "0:"));
}

} // namespace
} // namespace regcache::registry

#include "registry/cache/cache_graph.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "registry/cache/index_snapshot.h"

namespace regcache::registry {
namespace {

Digest digest_of(char hex) {
  return *parse_sha256_digest("sha256:" + std::string(64, hex));
}

// Two images in one repository sharing a base layer '1':
//   app:1 -> index 'a' -> manifests 'b' (layers '1','2', config '3') and 'c' (layers '1','4')
//   app:2 -> manifest 'd' (layers '1','5')
// and a blob '9' no tag reaches.
CacheGraph two_images() {
  CacheGraph graph;
  graph.roots.push_back({"reg:5000", "team/app", "1", digest_of('a'), "index", 0});
  graph.roots.push_back({"reg:5000", "team/app", "2", digest_of('d'), "manifest", 0});
  graph.references[digest_of('a')] = {digest_of('b'), digest_of('c')};
  graph.references[digest_of('b')] = {digest_of('3'), digest_of('1'), digest_of('2')};
  graph.references[digest_of('c')] = {digest_of('1'), digest_of('4')};
  graph.references[digest_of('d')] = {digest_of('1'), digest_of('5')};
  for (char hex : std::string("abcd123459"))
    graph.stored[digest_of(hex)] = StoredContent{100, 1000};
  graph.stored[digest_of('5')].last_use_unix_s = 5000; // app:2 was pulled recently
  return graph;
}

bool plan_has(const PurgePlan &plan, char hex) {
  return std::find(plan.digests.begin(), plan.digests.end(), digest_of(hex)) != plan.digests.end();
}

TEST(CacheGraphTest, AnImagesUsageCountsEachStoredDigestOnce) {
  CacheGraph graph = two_images();
  graph.stored.erase(digest_of('4')); // never pulled
  const ImageUsage usage = image_usage(graph, digest_of('a'));
  EXPECT_EQ(usage.stored_count, 6u); // a b c 3 1 2: '1' once though two manifests name it
  EXPECT_EQ(usage.stored_bytes, 600u);
  EXPECT_EQ(usage.missing_count, 1u);
}

TEST(CacheGraphTest, ImageUsageSaysTheLatestUseOfAnythingInIt) {
  EXPECT_EQ(image_usage(two_images(), digest_of('d')).last_use_unix_s, 5000);
  EXPECT_EQ(image_usage(two_images(), digest_of('a')).last_use_unix_s, 1000);
}

TEST(CacheGraphTest, PurgingAnImageByTagKeepsTheLayersAnotherImageNames) {
  PurgeSelection selection;
  selection.upstream = "reg:5000";
  selection.name = "team/app";
  selection.tag = "1";
  const PurgePlan plan = plan_purge(two_images(), selection);
  ASSERT_EQ(plan.roots.size(), 1u);
  EXPECT_EQ(plan.roots[0], 0u);
  for (char hex : std::string("abc234"))
    EXPECT_TRUE(plan_has(plan, hex)) << hex;
  EXPECT_FALSE(plan_has(plan, '1')); // app:2 shares it
  EXPECT_FALSE(plan_has(plan, '9'));
  EXPECT_EQ(plan.kept_shared, 1u);
  EXPECT_EQ(plan.digests.size(), 6u);
  EXPECT_EQ(plan.bytes, 600u);
  EXPECT_TRUE(std::is_sorted(plan.digests.begin(), plan.digests.end(), digest_less));
}

TEST(CacheGraphTest, PurgingAnImageOfAnotherUpstreamSelectsNothing) {
  PurgeSelection selection;
  selection.upstream = "docker.io";
  selection.name = "team/app";
  selection.tag = "1";
  const PurgePlan plan = plan_purge(two_images(), selection);
  EXPECT_TRUE(plan.roots.empty());
  EXPECT_TRUE(plan.digests.empty());
}

TEST(CacheGraphTest, PurgingAnImageByDigestSelectsTheTagsNamingIt) {
  PurgeSelection selection;
  selection.upstream = "reg:5000";
  selection.name = "team/app";
  selection.digest = digest_of('d');
  const PurgePlan plan = plan_purge(two_images(), selection);
  ASSERT_EQ(plan.roots.size(), 1u);
  EXPECT_EQ(plan.roots[0], 1u);
  EXPECT_TRUE(plan_has(plan, 'd'));
  EXPECT_TRUE(plan_has(plan, '5'));
  EXPECT_FALSE(plan_has(plan, '1'));
}

TEST(CacheGraphTest, PurgingADigestRemovesItEvenWhenShared) {
  PurgeSelection selection;
  selection.kind = PurgeSelection::Kind::Digest;
  selection.digest = digest_of('1');
  const PurgePlan plan = plan_purge(two_images(), selection);
  EXPECT_TRUE(plan.roots.empty());
  ASSERT_EQ(plan.digests.size(), 1u);
  EXPECT_EQ(plan.digests[0], digest_of('1'));
}

TEST(CacheGraphTest, PurgingADigestNotStoredRemovesNothing) {
  PurgeSelection selection;
  selection.kind = PurgeSelection::Kind::Digest;
  selection.digest = digest_of('7');
  EXPECT_TRUE(plan_purge(two_images(), selection).digests.empty());
}

TEST(CacheGraphTest, PurgingOlderThanKeepsWhatARecentImageNames) {
  PurgeSelection selection;
  selection.kind = PurgeSelection::Kind::OlderThan;
  selection.cutoff_unix_s = 2000;
  const PurgePlan plan = plan_purge(two_images(), selection);
  ASSERT_EQ(plan.roots.size(), 1u); // app:1, last used at 1000; app:2 was used at 5000
  EXPECT_EQ(plan.roots[0], 0u);
  for (char hex : std::string("abc2349"))
    EXPECT_TRUE(plan_has(plan, hex)) << hex; // '9': untagged and old
  EXPECT_FALSE(plan_has(plan, '1'));
  EXPECT_FALSE(plan_has(plan, 'd'));
  EXPECT_FALSE(plan_has(plan, '5'));
}

TEST(CacheGraphTest, PurgingOlderThanTheOldestUseSelectsNothing) {
  PurgeSelection selection;
  selection.kind = PurgeSelection::Kind::OlderThan;
  selection.cutoff_unix_s = 1000; // "before": a use at the cutoff itself is kept
  const PurgePlan plan = plan_purge(two_images(), selection);
  EXPECT_TRUE(plan.roots.empty());
  EXPECT_TRUE(plan.digests.empty());
}

TEST(CacheGraphTest, AClosureEndsOnACycle) {
  CacheGraph graph;
  graph.references[digest_of('a')] = {digest_of('b')};
  graph.references[digest_of('b')] = {digest_of('a')};
  DigestSet closure;
  add_closure(graph, digest_of('a'), closure);
  EXPECT_EQ(closure.size(), 2u);
}

} // namespace
} // namespace regcache::registry

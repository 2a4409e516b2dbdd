#include "registry/serve/control_json.h"

#include <gtest/gtest.h>

#include <string>

namespace regcache::registry {
namespace {

Digest digest_of(char hex) {
  return *parse_sha256_digest("sha256:" + std::string(64, hex));
}

TEST(ControlJsonTest, ImagesListEachTagWithItsStoredSizeAndTheUntaggedRest) {
  CacheGraph graph;
  graph.roots.push_back({"reg:5000", "team/app", "1", digest_of('a'), "application/x", 7});
  graph.references[digest_of('a')] = {digest_of('b')};
  graph.stored[digest_of('a')] = StoredContent{10, 100};
  graph.stored[digest_of('b')] = StoredContent{20, 200};
  graph.stored[digest_of('c')] = StoredContent{40, 50};
  const std::string json = format_images_json(graph);
  EXPECT_EQ(json,
            R"({"images":[{"upstream":"reg:5000","name":"team/app","tag":"1","digest":"sha256:)" +
                std::string(64, 'a') +
                R"(","media_type":"application/x","confirmed_unix_ms":7,"stored_bytes":30,)"
                R"("stored_count":2,"missing_count":0,"last_use_unix_s":200}],)"
                R"("untagged":{"count":1,"bytes":40},"stored":{"count":3,"bytes":70}})"
                "\n");
}

TEST(ControlJsonTest, ImagesAreOrderedByUpstreamNameAndTag) {
  CacheGraph graph;
  graph.roots.push_back({"b", "x", "1", digest_of('a'), "", 0});
  graph.roots.push_back({"a", "y", "2", digest_of('a'), "", 0});
  graph.roots.push_back({"a", "y", "10", digest_of('a'), "", 0});
  const std::string json = format_images_json(graph);
  const size_t first = json.find(R"("tag":"10")");
  const size_t second = json.find(R"("tag":"2")");
  const size_t third = json.find(R"("tag":"1")");
  EXPECT_LT(first, second);
  EXPECT_LT(second, third);
}

TEST(ControlJsonTest, NamesAreEscapedAsJsonStrings) {
  CacheGraph graph;
  graph.roots.push_back({"reg", "a\"b", "t", digest_of('a'), "x\\y", 0});
  const std::string json = format_images_json(graph);
  EXPECT_NE(json.find(R"("name":"a\"b")"), std::string::npos);
  EXPECT_NE(json.find(R"("media_type":"x\\y")"), std::string::npos);
}

TEST(ControlJsonTest, StatsSayNullForTheHitRatioBeforeAnyLookup) {
  ControlStats stats;
  stats.cache_max_bytes = 1000;
  const std::string json = format_stats_json(stats);
  EXPECT_NE(json.find(R"("hit_ratio":null)"), std::string::npos);
  EXPECT_NE(json.find(R"("cache_max_bytes":1000)"), std::string::npos);
}

TEST(ControlJsonTest, StatsCountHitsAndBytes) {
  ControlStats stats;
  const size_t blob = static_cast<size_t>(RequestKind::Blob);
  stats.requests.requests[blob][static_cast<size_t>(CacheOutcome::Hit)] = 3;
  stats.requests.body_bytes[blob][static_cast<size_t>(CacheOutcome::Hit)] = 300;
  stats.requests.requests[blob][static_cast<size_t>(CacheOutcome::Miss)] = 1;
  stats.requests.body_bytes[blob][static_cast<size_t>(CacheOutcome::Miss)] = 100;
  stats.downloads_running = 2;
  const std::string json = format_stats_json(stats);
  EXPECT_NE(json.find(R"("hit_ratio":0.7500)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("bytes_from_cache":300)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("bytes_via_upstream":100)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("HIT":3)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("downloads_running":2)"), std::string::npos) << json;
}

TEST(ControlJsonTest, PurgeReportsThePlanAndWhatWasDone) {
  PurgePlan plan;
  plan.roots = {0, 1};
  plan.digests = {digest_of('a')};
  plan.bytes = 10;
  PurgeReport report;
  report.digests_removed = 1;
  report.bytes_removed = 10;
  report.tags_removed = 2;
  EXPECT_EQ(format_purge_json(plan, report),
            R"({"selected_tags":2,"digests":1,"bytes":10,"kept_shared":0,"tags_removed":2,)"
            R"("digests_removed":1,"bytes_removed":10,"tag_entries_dropped":0,"kept_busy":0,)"
            R"("downloads_running":0})"
            "\n");
}

} // namespace
} // namespace regcache::registry

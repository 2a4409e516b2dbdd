#include "registry/serve/image_rankings.h"

#include <gtest/gtest.h>

#include <string>

namespace regcache::registry {
namespace {

TEST(ImageRankings, CountsPullsExactlyWhileFewerNamesThanCounters) {
  ImageRankings rankings;
  for (int i = 0; i < 3; ++i)
    rankings.count_pull("library/alpine", "3.20");
  rankings.count_pull("library/debian", "12");
  auto pulled = rankings.most_pulled(10);
  ASSERT_EQ(pulled.size(), 2u);
  EXPECT_EQ(pulled[0].name, "library/alpine:3.20");
  EXPECT_EQ(pulled[0].pulls, 3u);
  EXPECT_EQ(pulled[0].pulls_overcount, 0u);
  EXPECT_EQ(pulled[1].name, "library/debian:12");
  EXPECT_EQ(pulled[1].pulls, 1u);
}

TEST(ImageRankings, StaysBoundedWhenClientsSendManyNames) {
  ImageRankings rankings;
  for (int i = 0; i < 10; ++i)
    rankings.count_pull("library/popular", "latest");
  for (int i = 0; i < 10000; ++i)
    rankings.count_pull("noise/n" + std::to_string(i), "x");
  auto pulled = rankings.most_pulled(1000);
  EXPECT_EQ(pulled.size(), ImageRankings::kPulledMax);
  // Every pull is in some counter: the counts sum to the pulls seen.
  uint64_t counted = 0;
  for (const RankedImage &image : pulled) {
    EXPECT_LE(image.pulls_overcount, image.pulls);
    counted += image.pulls;
  }
  EXPECT_EQ(counted, 10010u);
}

TEST(ImageRankings, KeepsAHeavyHitterAmongNoise) {
  ImageRankings rankings;
  // The popular name takes a third of all pulls, far above total / K.
  for (int i = 0; i < 3000; ++i) {
    rankings.count_pull("library/popular", "latest");
    rankings.count_pull("noise/a" + std::to_string(i), "x");
    rankings.count_pull("noise/b" + std::to_string(i), "x");
  }
  auto pulled = rankings.most_pulled(1);
  ASSERT_EQ(pulled.size(), 1u);
  EXPECT_EQ(pulled[0].name, "library/popular:latest");
  EXPECT_GE(pulled[0].pulls, 3000u);
  EXPECT_GE(pulled[0].pulls - pulled[0].pulls_overcount, 1u);
}

TEST(ImageRankings, LargestKeepsTheBiggestSizesAndUpdatesAMovedTag) {
  ImageRankings rankings;
  for (uint64_t i = 0; i < 100; ++i)
    rankings.note_size("repo/r" + std::to_string(i), "t", i * 1000);
  rankings.note_size("repo/r5", "t", 1'000'000); // the tag now names a bigger image
  auto largest = rankings.largest(100);
  ASSERT_EQ(largest.size(), ImageRankings::kLargestMax);
  // r5 had been pushed out by larger images; grown, it displaces the smallest kept (r84).
  EXPECT_EQ(largest[0].name, "repo/r5:t");
  EXPECT_EQ(largest[0].image_bytes, 1'000'000u);
  EXPECT_EQ(largest[1].name, "repo/r99:t");
  EXPECT_EQ(largest.back().name, "repo/r85:t");
}

TEST(ImageRankings, IgnoresNamesPastTheGrammarsBounds) {
  ImageRankings rankings;
  rankings.count_pull(std::string(400, 'a'), "t");
  EXPECT_TRUE(rankings.most_pulled(10).empty());
}

} // namespace
} // namespace regcache::registry

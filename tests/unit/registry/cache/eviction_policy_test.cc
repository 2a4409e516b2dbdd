#include "registry/cache/eviction_policy.h"

#include <gtest/gtest.h>

#include <vector>

namespace regcache::registry {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;

Digest digest_of(uint8_t first) {
  Digest digest{};
  digest.bytes.front() = first;
  return digest;
}

IndexEntryView entry(uint8_t id, uint64_t size_bytes, int64_t last_use,
                     BlobState state = BlobState::Present, uint64_t priority = 1) {
  return IndexEntryView{digest_of(id), size_bytes, last_use, priority, priority, 0, state};
}

IndexEntryView with_priority(uint8_t id, uint64_t priority, int64_t last_use) {
  return entry(id, 10, last_use, BlobState::Present, priority);
}

TEST(EvictionLevelsTest, TheCacheLimitAppliesWhenTheDiskHasRoom) {
  const DiskState disk{50 * kMiB, 100 * kGiB, 80 * kGiB};
  const EvictionLevels levels = eviction_levels(disk, 100 * kMiB, SpaceFloor{true, 5});
  EXPECT_FALSE(levels.free_space_bound);
  EXPECT_EQ(levels.limit_bytes, 100 * kMiB);
  EXPECT_EQ(levels.high_bytes, 95 * kMiB);
  EXPECT_EQ(levels.low_bytes, 90 * kMiB);
}

TEST(EvictionLevelsTest, TheFreeSpaceFloorAppliesWhenItIsTighter) {
  // 64 MiB file system, half must stay free, the cache holds 20 MiB and 30 MiB are free: the
  // cache may grow to 20 + 30 - 32 = 18 MiB.
  const DiskState disk{20 * kMiB, 64 * kMiB, 30 * kMiB};
  const EvictionLevels levels = eviction_levels(disk, 32 * kGiB, SpaceFloor{true, 50});
  EXPECT_TRUE(levels.free_space_bound);
  EXPECT_EQ(levels.limit_bytes, 18 * kMiB);
  EXPECT_EQ(bytes_to_evict(levels, 20 * kMiB), 20 * kMiB - levels.low_bytes);
}

TEST(EvictionLevelsTest, AFloorGivenInBytesCounts) {
  const DiskState disk{10 * kMiB, 1 * kGiB, 15 * kMiB};
  const EvictionLevels levels = eviction_levels(disk, 32 * kGiB, SpaceFloor{false, 20 * kMiB});
  EXPECT_EQ(levels.limit_bytes, 5 * kMiB);
}

TEST(EvictionLevelsTest, OtherProgramsFillingTheDiskLeaveTheCacheNothing) {
  const DiskState disk{10 * kMiB, 1 * kGiB, 0};
  const EvictionLevels levels = eviction_levels(disk, 32 * kGiB, SpaceFloor{true, 5});
  EXPECT_EQ(levels.limit_bytes, 0u);
  EXPECT_EQ(bytes_to_evict(levels, 10 * kMiB), 10 * kMiB);
}

TEST(EvictionLevelsTest, NothingIsEvictedUpToTheHighWatermark) {
  const DiskState disk{0, 100 * kGiB, 80 * kGiB};
  const EvictionLevels levels = eviction_levels(disk, 100 * kMiB, SpaceFloor{true, 0});
  EXPECT_EQ(bytes_to_evict(levels, 95 * kMiB), 0u);
  EXPECT_EQ(bytes_to_evict(levels, 95 * kMiB + 1), 5 * kMiB + 1);
}

TEST(EvictionOrderTest, LowestPriorityFirstWhateverTheLastUse) {
  // 1: hit often long ago; 2: published just now, once; 3: hit a few times recently.
  std::vector<IndexEntryView> entries = {with_priority(1, 9, 100), with_priority(2, 5, 900),
                                         with_priority(3, 7, 800)};
  order_for_eviction(entries);
  EXPECT_EQ(entries[0].digest, digest_of(2));
  EXPECT_EQ(entries[1].digest, digest_of(3));
  EXPECT_EQ(entries[2].digest, digest_of(1));
}

TEST(EvictionOrderTest, AmongEqualPrioritiesLeastRecentlyUsedFirst) {
  std::vector<IndexEntryView> entries = {entry(1, 10, 300), entry(2, 10, 100), entry(3, 10, 200)};
  order_for_eviction(entries);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].digest, digest_of(2));
  EXPECT_EQ(entries[1].digest, digest_of(3));
  EXPECT_EQ(entries[2].digest, digest_of(1));
}

TEST(EvictionOrderTest, AmongEqualLastUsesTheLargerFirstThenByDigest) {
  std::vector<IndexEntryView> entries = {entry(4, 10, 100), entry(2, 10, 100), entry(3, 99, 100)};
  order_for_eviction(entries);
  EXPECT_EQ(entries[0].digest, digest_of(3));
  EXPECT_EQ(entries[1].digest, digest_of(2));
  EXPECT_EQ(entries[2].digest, digest_of(4));
}

TEST(EvictionOrderTest, EntriesBeingEvictedOrRottenAreNotCandidates) {
  std::vector<IndexEntryView> entries = {entry(1, 10, 1, BlobState::Evicting),
                                         entry(2, 10, 2, BlobState::Rotten), entry(3, 10, 3)};
  order_for_eviction(entries);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].digest, digest_of(3));
}

} // namespace
} // namespace regcache::registry

#include "registry/cache/blob_index.h"

#include <gtest/gtest.h>

#include <array>
#include <thread>
#include <vector>

namespace regcache::registry {
namespace {

using Verdict = BlobIndex::HitVerdict;

Digest digest_of(uint8_t first, uint8_t last = 0) {
  Digest digest{};
  digest.bytes.front() = first;
  digest.bytes.back() = last;
  return digest;
}

struct CountingListener final : IndexListener {
  void on_index_work() noexcept override { ++calls; }
  int calls = 0;
};

class BlobIndexTest : public ::testing::Test {
protected:
  void SetUp() override {
    const std::array<IndexRecord, 2> records{IndexRecord{digest_of(1), 100, 1000, 1, 1},
                                             IndexRecord{digest_of(2), 5000, 2000, 1, 1}};
    index_.reset(4096, records, 0);
    index_.set_listener(&listener_);
  }
  IndexEntryView entry(const Digest &digest) {
    IndexEntryView view;
    EXPECT_TRUE(index_.lookup(digest, view));
    return view;
  }
  BlobIndex index_;
  CountingListener listener_;
};

TEST_F(BlobIndexTest, CountsDiskUseInWholeBlocks) {
  EXPECT_EQ(index_.count(), 2u);
  EXPECT_EQ(index_.content_bytes(), 5100u);
  EXPECT_EQ(index_.disk_bytes(), 4096u + 8192u);
}

TEST_F(BlobIndexTest, AHitOfTheIndexedSizeIsServedAndRecordsItsUse) {
  EXPECT_EQ(index_.check_hit(digest_of(1), 100, 5000), Verdict::Serve);
  EXPECT_EQ(entry(digest_of(1)).last_use_unix_s, 5000);
}

TEST_F(BlobIndexTest, AHitOfAnotherSizeIsRotAndReported) {
  EXPECT_EQ(index_.check_hit(digest_of(1), 0, 5000), Verdict::Rotten);
  EXPECT_EQ(entry(digest_of(1)).state, BlobState::Rotten);
  EXPECT_EQ(index_.check_hit(digest_of(1), 100, 5001), Verdict::Withheld);
  std::array<RotReport, 4> reports;
  uint64_t dropped = 0;
  ASSERT_EQ(index_.take_rot_reports(reports, &dropped), 1u);
  EXPECT_EQ(reports[0].digest, digest_of(1));
  EXPECT_EQ(reports[0].cause, RotCause::SizeOnHit);
  EXPECT_EQ(reports[0].index_size_bytes, 100u);
  EXPECT_EQ(reports[0].file_size_bytes, 0u);
  EXPECT_EQ(dropped, 0u);
  EXPECT_EQ(listener_.calls, 1);
}

TEST_F(BlobIndexTest, AnUnknownDigestIsUnknown) {
  EXPECT_EQ(index_.check_hit(digest_of(9), 1, 5000), Verdict::Unknown);
}

TEST_F(BlobIndexTest, AnEntryBeingEvictedIsWithheldAndComesBackWhenCancelled) {
  const IndexEntryView seen = entry(digest_of(2));
  ASSERT_TRUE(index_.begin_eviction(seen));
  EXPECT_EQ(index_.check_hit(digest_of(2), 5000, 3000), Verdict::Withheld);
  index_.cancel_eviction(seen.digest, seen.generation);
  EXPECT_EQ(index_.check_hit(digest_of(2), 5000, 3000), Verdict::Serve);
}

TEST_F(BlobIndexTest, AnEntryUsedSinceItWasChosenIsNotEvicted) {
  const IndexEntryView seen = entry(digest_of(2));
  ASSERT_EQ(index_.check_hit(digest_of(2), 5000, 9999), Verdict::Serve);
  EXPECT_FALSE(index_.begin_eviction(seen));
}

TEST_F(BlobIndexTest, FinishingAnEvictionRemovesTheEntryAndItsBytes) {
  const IndexEntryView seen = entry(digest_of(2));
  ASSERT_TRUE(index_.begin_eviction(seen));
  index_.finish_removal(seen.digest, seen.generation);
  IndexEntryView gone;
  EXPECT_FALSE(index_.lookup(digest_of(2), gone));
  EXPECT_EQ(index_.count(), 1u);
  EXPECT_EQ(index_.disk_bytes(), 4096u);
}

TEST_F(BlobIndexTest, APublishDuringAnEvictionKeepsTheNewFile) {
  const IndexEntryView seen = entry(digest_of(2));
  ASSERT_TRUE(index_.begin_eviction(seen));
  index_.add(digest_of(2), 5000, 4000); // published again: a new generation, Present
  index_.finish_removal(seen.digest, seen.generation);
  const IndexEntryView now = entry(digest_of(2));
  EXPECT_EQ(now.state, BlobState::Present);
  EXPECT_NE(now.generation, seen.generation);
  EXPECT_EQ(index_.count(), 2u);
}

TEST_F(BlobIndexTest, AScrubOfAnOldGenerationCannotCondemnTheNewFile) {
  const IndexEntryView old = entry(digest_of(1));
  index_.add(digest_of(1), 100, 4000);
  EXPECT_FALSE(index_.mark_rotten(old.digest, old.generation, RotCause::DigestOnScrub, 100));
  EXPECT_EQ(entry(digest_of(1)).state, BlobState::Present);
}

TEST_F(BlobIndexTest, ARottenEntryServesAgainOncePublishedAgain) {
  ASSERT_EQ(index_.check_hit(digest_of(1), 3, 5000), Verdict::Rotten);
  index_.add(digest_of(1), 100, 6000);
  EXPECT_EQ(index_.check_hit(digest_of(1), 100, 6001), Verdict::Serve);
}

TEST_F(BlobIndexTest, AFileDeletedByHandIsForgotten) {
  index_.forget_missing(digest_of(1));
  EXPECT_EQ(index_.check_hit(digest_of(1), 100, 5000), Verdict::Unknown);
  EXPECT_EQ(index_.count(), 1u);
}

TEST_F(BlobIndexTest, APublishPastTheKickLevelTellsTheListener) {
  index_.set_kick_above(20'000);
  index_.add(digest_of(3), 1000, 1);
  EXPECT_EQ(listener_.calls, 0);
  index_.add(digest_of(4), 10'000, 1);
  EXPECT_EQ(listener_.calls, 1);
}

TEST_F(BlobIndexTest, RotReportsPastTheQueueAreCountedNotLost) {
  for (uint8_t i = 10; i < 110; ++i) {
    index_.add(digest_of(i, i), 10, 1);
    ASSERT_EQ(index_.check_hit(digest_of(i, i), 11, 2), Verdict::Rotten);
  }
  std::array<RotReport, 128> reports;
  uint64_t dropped = 0;
  const size_t taken = index_.take_rot_reports(reports, &dropped);
  EXPECT_EQ(taken + dropped, 100u);
  EXPECT_GT(dropped, 0u);
}

TEST_F(BlobIndexTest, TheSnapshotIsSortedAndLeavesRottenEntriesOut) {
  index_.add(digest_of(0), 7, 1);
  ASSERT_EQ(index_.check_hit(digest_of(1), 3, 5000), Verdict::Rotten);
  const IndexSnapshot snapshot = index_.snapshot();
  ASSERT_EQ(snapshot.records.size(), 2u);
  EXPECT_EQ(snapshot.records[0].digest, digest_of(0));
  EXPECT_EQ(snapshot.records[1].digest, digest_of(2));
}

TEST_F(BlobIndexTest, EveryHitIsAChangeToSave) {
  const uint64_t before = index_.change_count();
  ASSERT_EQ(index_.check_hit(digest_of(1), 100, 7000), Verdict::Serve);
  ASSERT_EQ(index_.check_hit(digest_of(1), 100, 7000), Verdict::Serve);
  EXPECT_EQ(index_.change_count(), before + 2);
}

TEST_F(BlobIndexTest, AHitCountsAndSetsThePriorityToTheClockPlusTheHits) {
  ASSERT_EQ(index_.check_hit(digest_of(1), 100, 7000), Verdict::Serve);
  EXPECT_EQ(entry(digest_of(1)).hits, 2u);
  EXPECT_EQ(entry(digest_of(1)).priority, 2u);
  index_.advance_eviction_clock(40);
  ASSERT_EQ(index_.check_hit(digest_of(1), 100, 7001), Verdict::Serve);
  EXPECT_EQ(entry(digest_of(1)).hits, 3u);
  EXPECT_EQ(entry(digest_of(1)).priority, 43u);
}

TEST_F(BlobIndexTest, APublishStartsAtTheClockAndARepublishKeepsTheHits) {
  index_.advance_eviction_clock(10);
  index_.add(digest_of(7), 1, 1);
  EXPECT_EQ(entry(digest_of(7)).priority, 11u);
  ASSERT_EQ(index_.check_hit(digest_of(7), 1, 2), Verdict::Serve);
  index_.add(digest_of(7), 1, 3); // fetched again after rot
  EXPECT_EQ(entry(digest_of(7)).hits, 3u);
}

TEST_F(BlobIndexTest, TheClockNeverGoesBack) {
  index_.advance_eviction_clock(10);
  index_.advance_eviction_clock(5);
  EXPECT_EQ(index_.eviction_clock(), 10u);
  EXPECT_EQ(index_.snapshot().eviction_clock, 10u);
}

TEST_F(BlobIndexTest, AHitInTheSameSecondStillStopsAnEviction) {
  const IndexEntryView seen = entry(digest_of(2));
  ASSERT_EQ(index_.check_hit(digest_of(2), 5000, seen.last_use_unix_s), Verdict::Serve);
  EXPECT_FALSE(index_.begin_eviction(seen));
}

TEST_F(BlobIndexTest, HitsFromManyThreadsWhilePublishingKeepTheCountsRight) {
  std::vector<std::thread> threads;
  for (uint8_t t = 0; t < 4; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < 2000; ++i) {
        index_.check_hit(digest_of(1), 100, i);
        index_.add(digest_of(static_cast<uint8_t>(100 + t), static_cast<uint8_t>(i)), 1, i);
      }
    });
  }
  for (std::thread &thread : threads)
    thread.join();
  EXPECT_EQ(index_.count(), 2u + 4u * 256u);
  EXPECT_EQ(index_.content_bytes(), 5100u + 4u * 256u);
}

} // namespace
} // namespace regcache::registry

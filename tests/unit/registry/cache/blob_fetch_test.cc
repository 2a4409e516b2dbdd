#include "registry/cache/blob_fetch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace regcache::registry {
namespace {

Digest digest_of_hex(char c) {
  return *parse_sha256_digest("sha256:" + std::string(64, c));
}

TEST(FetchTableTest, ConcurrentMissesOfOneDigestShareOneFetch) {
  FetchTable table;
  bool created_first = false, created_second = false, created_other = false;
  auto first = table.join_or_create(digest_of_hex('1'), false, &created_first);
  auto second = table.join_or_create(digest_of_hex('1'), false, &created_second);
  auto other = table.join_or_create(digest_of_hex('2'), false, &created_other);
  EXPECT_TRUE(created_first);
  EXPECT_FALSE(created_second);
  EXPECT_TRUE(created_other);
  EXPECT_EQ(first.get(), second.get());
  EXPECT_NE(first.get(), other.get());
}

TEST(FetchTableTest, AForgottenFetchIsNotJoinedAgain) {
  FetchTable table;
  bool created = false;
  auto first = table.join_or_create(digest_of_hex('3'), false, &created);
  table.forget(*first);
  auto second = table.join_or_create(digest_of_hex('3'), false, &created);
  EXPECT_TRUE(created);
  EXPECT_NE(first.get(), second.get());
}

TEST(BlobFetchTest, HoldsBackTheLastByteUntilVerified) {
  EXPECT_EQ(BlobFetch::readable_bytes(BlobFetch::State::Streaming, 1000), 999u);
  EXPECT_EQ(BlobFetch::readable_bytes(BlobFetch::State::Streaming, 0), 0u);
  EXPECT_EQ(BlobFetch::readable_bytes(BlobFetch::State::Verified, 1000), 1000u);
}

TEST(BlobFetchTest, NothingIsReadableFromAFailedFetch) {
  EXPECT_EQ(BlobFetch::readable_bytes(BlobFetch::State::Failed, 1000), 0u);
  EXPECT_EQ(BlobFetch::readable_bytes(BlobFetch::State::UpstreamAnswer, 1000), 0u);
  EXPECT_EQ(BlobFetch::readable_bytes(BlobFetch::State::Starting, 0), 0u);
}

TEST(BlobFetchTest, ANewFetchStartsWithNothingReadable) {
  BlobFetch fetch(digest_of_hex('4'));
  EXPECT_EQ(fetch.progress().state, BlobFetch::State::Starting);
  EXPECT_EQ(fetch.progress().readable_bytes, 0u);
}

TEST(FetchTableTest, ALimitedDownloadIsNeverJoinedByAnOpenRoute) {
  FetchTable table;
  bool created_limited = false, created_open = false, created_again = false;
  auto limited = table.join_or_create(digest_of_hex('5'), true, &created_limited);
  auto open = table.join_or_create(digest_of_hex('5'), false, &created_open);
  auto limited_again = table.join_or_create(digest_of_hex('5'), true, &created_again);
  EXPECT_TRUE(created_limited);
  EXPECT_TRUE(created_open);
  EXPECT_FALSE(created_again);
  EXPECT_NE(limited.get(), open.get());
  EXPECT_EQ(limited.get(), limited_again.get());
  table.forget(*limited);
  bool created_open_again = true;
  EXPECT_EQ(table.join_or_create(digest_of_hex('5'), false, &created_open_again).get(), open.get());
  EXPECT_FALSE(created_open_again);
}

TEST(BlobFetchTest, APassThroughKeepsTheLastWindowInWholeSteps) {
  constexpr uint64_t kStep = BlobFetch::kWindowStepBytes;
  constexpr uint64_t kWindow = 8 * kStep;
  EXPECT_EQ(BlobFetch::window_start(0, kWindow), 0u);
  EXPECT_EQ(BlobFetch::window_start(kWindow, kWindow), 0u);
  EXPECT_EQ(BlobFetch::window_start(kWindow + kStep - 1, kWindow), 0u);
  EXPECT_EQ(BlobFetch::window_start(kWindow + kStep, kWindow), kStep);
  EXPECT_EQ(BlobFetch::window_start(kWindow + 5 * kStep + 3, kWindow), 5 * kStep);
  // Never more than a window plus a step held, never less than a window.
  for (uint64_t written = 0; written < 40 * kStep; written += 123457) {
    const uint64_t first = BlobFetch::window_start(written, kWindow);
    EXPECT_EQ(first % kStep, 0u);
    EXPECT_LE(first, written);
    EXPECT_GE(written - first, std::min(written, kWindow));
    EXPECT_LT(written - first, kWindow + kStep);
  }
}

TEST(BlobFetchTest, ACachedDownloadHoldsEveryByte) {
  BlobFetch fetch(digest_of_hex('6'));
  BlobFetch::Reader reader(fetch);
  EXPECT_TRUE(fetch.holds(0));
  EXPECT_EQ(fetch.progress().first_held_byte, 0u);
  EXPECT_FALSE(fetch.passing_through());
}

TEST(BlobFetchTest, ReadersComeAndGoInAnyOrder) {
  BlobFetch fetch(digest_of_hex('7'));
  auto first = std::make_unique<BlobFetch::Reader>(fetch);
  auto second = std::make_unique<BlobFetch::Reader>(fetch);
  auto third = std::make_unique<BlobFetch::Reader>(fetch);
  second->sent_to(100);
  second.reset();
  first->sent_to(50);
  first->sent_to(10); // positions only move on
  first.reset();
  third.reset();
  // The fetch's destructor asserts that no reader is left.
}

TEST(FetchTableTest, SnapshotsCountTheReadersOfEachRunningFetch) {
  FetchTable table;
  bool created = false;
  auto followed = table.join_or_create(digest_of_hex('6'), false, &created);
  auto limited = table.join_or_create(digest_of_hex('7'), true, &created);
  BlobFetch::Reader first(*followed);
  BlobFetch::Reader second(*followed);
  std::vector<FetchSnapshot> snapshots = table.snapshots(10);
  ASSERT_EQ(snapshots.size(), 2u);
  std::sort(snapshots.begin(), snapshots.end(),
            [](const auto &a, const auto &b) { return a.readers > b.readers; });
  EXPECT_EQ(snapshots[0].digest, digest_of_hex('6'));
  EXPECT_EQ(snapshots[0].readers, 2u);
  EXPECT_EQ(snapshots[1].digest, digest_of_hex('7'));
  EXPECT_EQ(snapshots[1].readers, 0u);
  // Before run() starts nothing names the repository or the size.
  EXPECT_EQ(snapshots[0].repository, "");
  EXPECT_FALSE(snapshots[0].total_known);
}

TEST(FetchTableTest, SnapshotsStopAtTheirBound) {
  FetchTable table;
  bool created = false;
  std::vector<std::shared_ptr<BlobFetch>> fetches;
  for (char c : std::string("89abcdef"))
    fetches.push_back(table.join_or_create(digest_of_hex(c), c > 'b', &created));
  EXPECT_EQ(table.snapshots(3).size(), 3u);
  EXPECT_EQ(table.snapshots(100).size(), fetches.size());
}

} // namespace
} // namespace regcache::registry

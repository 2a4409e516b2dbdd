// What the downloads share about the cache disk: which blobs may be cached from their first
// byte, which conditions a failed write means, each condition said once until a download is
// published, and the evictor kicked whenever space is short.
#include "registry/cache/cache_space.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <optional>

namespace regcache::registry {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

TEST(CacheSpaceTest, ABlobThatFitsMayBeCached) {
  EXPECT_EQ(CacheSpace::fits(10 * kMiB, 100 * kMiB, 0, 0), std::nullopt);
  EXPECT_EQ(CacheSpace::fits(100 * kMiB, 100 * kMiB, 0, 0), std::nullopt);
}

TEST(CacheSpaceTest, ABlobLargerThanTheFreeSpacePassesThrough) {
  EXPECT_EQ(CacheSpace::fits(100 * kMiB + 1, 100 * kMiB, 0, 0), SpaceCondition::LargerThanFree);
  EXPECT_EQ(CacheSpace::fits(1, 0, 0, 0), SpaceCondition::LargerThanFree);
}

TEST(CacheSpaceTest, TheFreeSpaceFloorIsNotForBlobs) {
  EXPECT_EQ(CacheSpace::fits(60 * kMiB, 100 * kMiB, 0, 50 * kMiB), SpaceCondition::LargerThanFree);
  EXPECT_EQ(CacheSpace::fits(50 * kMiB, 100 * kMiB, 0, 50 * kMiB), std::nullopt);
  EXPECT_EQ(CacheSpace::fits(1, 10 * kMiB, 0, 50 * kMiB), SpaceCondition::LargerThanFree);
}

TEST(CacheSpaceTest, ABlobLargerThanTheCacheLimitPassesThroughWhateverIsFree) {
  EXPECT_EQ(CacheSpace::fits(11 * kMiB, 1000 * kMiB, 10 * kMiB, 0),
            SpaceCondition::LargerThanCache);
  EXPECT_EQ(CacheSpace::fits(10 * kMiB, 1000 * kMiB, 10 * kMiB, 0), std::nullopt);
}

TEST(CacheSpaceTest, EachWriteErrorHasItsCondition) {
  EXPECT_EQ(CacheSpace::condition_of_write_error(-ENOSPC), SpaceCondition::DiskFull);
  EXPECT_EQ(CacheSpace::condition_of_write_error(-EDQUOT), SpaceCondition::QuotaExceeded);
  EXPECT_EQ(CacheSpace::condition_of_write_error(-EIO), SpaceCondition::WriteFailed);
  EXPECT_EQ(CacheSpace::condition_of_write_error(-EROFS), SpaceCondition::WriteFailed);
}

TEST(CacheSpaceTest, AConditionIsNewOnceUntilADownloadIsPublished) {
  CacheSpace space;
  EXPECT_TRUE(space.report(SpaceCondition::DiskFull));
  EXPECT_FALSE(space.report(SpaceCondition::DiskFull));
  EXPECT_FALSE(space.report(SpaceCondition::DiskFull));
  EXPECT_TRUE(space.report(SpaceCondition::WriteFailed)); // another condition: said too
  EXPECT_TRUE(space.in_force(SpaceCondition::DiskFull));
  EXPECT_TRUE(space.report_published());
  EXPECT_FALSE(space.in_force(SpaceCondition::DiskFull));
  EXPECT_TRUE(space.report(SpaceCondition::DiskFull));
}

TEST(CacheSpaceTest, APublishWithNoConditionClearsNothing) {
  CacheSpace space;
  EXPECT_FALSE(space.report_published());
}

TEST(CacheSpaceTest, TheEvictorIsKickedEachTimeSpaceIsShort) {
  CacheSpace space;
  int kicks = 0;
  space.set_eviction_kick([&kicks] { ++kicks; });
  space.report(SpaceCondition::DiskFull);
  space.report(SpaceCondition::DiskFull);
  space.report(SpaceCondition::QuotaExceeded);
  space.report(SpaceCondition::LargerThanFree);
  EXPECT_EQ(kicks, 4);
  // Eviction cannot help these.
  space.report(SpaceCondition::WriteFailed);
  space.report(SpaceCondition::LargerThanCache);
  EXPECT_EQ(kicks, 4);
}

TEST(CacheSpaceTest, WithoutAKickReportingIsStillSafe) {
  CacheSpace space;
  EXPECT_TRUE(space.report(SpaceCondition::DiskFull));
}

TEST(CacheSpaceTest, TheFreeSpaceIsMeasuredOnTheDirectorysFileSystem) {
  CacheSpace space;
  int dir_fd = ::open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(dir_fd, 0);
  uint64_t free_bytes = 0;
  EXPECT_EQ(space.check_fits(dir_fd, 1, &free_bytes), std::nullopt);
  EXPECT_GT(free_bytes, 0u);
  EXPECT_EQ(space.check_fits(dir_fd, UINT64_MAX, &free_bytes), SpaceCondition::LargerThanFree);
  space.set_limits(1024, 0);
  EXPECT_EQ(space.check_fits(dir_fd, 1025, &free_bytes), SpaceCondition::LargerThanCache);
  ::close(dir_fd);
}

} // namespace
} // namespace regcache::registry

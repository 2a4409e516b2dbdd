// The per-day figures across a restart: a history started on a store, fed totals, stopped (its
// last sample written to meta/daily-traffic) and started again on the same store.
#include "registry/daemon/traffic_history.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "core/unix_time.h"

namespace regcache::registry {
namespace {

class TrafficHistoryTest : public ::testing::Test {
protected:
  void SetUp() override {
    char pattern[] = "/tmp/regcache-history-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    root_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
  }
  // `hits` blob hits of 100 bytes each and one miss, as one worker's counters.
  static RequestTotals totals_with(uint64_t hits) {
    RequestCounters counters;
    for (uint64_t i = 0; i < hits; ++i)
      counters.count(RequestKind::Blob, CacheOutcome::Hit, 100, 10);
    counters.count(RequestKind::Blob, CacheOutcome::Miss, 100, 10);
    RequestTotals totals;
    totals.add(counters);
    return totals;
  }
  std::string root_;
};

TEST_F(TrafficHistoryTest, DayFiguresSurviveARestart) {
  const int64_t today = unix_day(core::unix_now_s());
  {
    BlobStore store;
    std::string error;
    ASSERT_TRUE(store.open(root_, &error)) << error;
    TrafficHistory history;
    history.start(store, [] { return totals_with(3); });
    EXPECT_EQ(history.current(totals_with(3), today).of_day(today),
              (DayTraffic{today, 4, 3, 300, 4}));
    history.stop();
  }
  std::ifstream file(root_ + "/" + TrafficHistory::kFileName);
  EXPECT_TRUE(file.good());
  {
    BlobStore store;
    std::string error;
    ASSERT_TRUE(store.open(root_, &error)) << error;
    TrafficHistory history;
    history.start(store, [] { return totals_with(1); });
    // The first run's day, plus what this run counted since its start.
    EXPECT_EQ(history.current(totals_with(1), today).of_day(today),
              (DayTraffic{today, 6, 4, 400, 6}));
    history.stop();
  }
}

TEST_F(TrafficHistoryTest, ADamagedFileStartsAnEmptyHistory) {
  std::filesystem::create_directories(root_ + "/meta");
  std::ofstream(root_ + "/" + TrafficHistory::kFileName) << "garbage\n";
  BlobStore store;
  std::string error;
  ASSERT_TRUE(store.open(root_, &error)) << error;
  TrafficHistory history;
  history.start(store, [] { return RequestTotals{}; });
  const int64_t today = unix_day(core::unix_now_s());
  EXPECT_EQ(history.current(RequestTotals{}, today).of_day(today), (DayTraffic{today, 0, 0, 0, 0}));
  history.stop();
}

TEST_F(TrafficHistoryTest, AFileLongerThanAnyHistoryIsReportedAndNotRead) {
  std::filesystem::create_directories(root_ + "/meta");
  // A valid first day, then more than the encoded bound allows.
  const int64_t today = unix_day(core::unix_now_s());
  std::ofstream(root_ + "/" + TrafficHistory::kFileName)
      << "regcache-daily-traffic 1\n"
      << today << " 5 5 5 5\n"
      << std::string(DailyTraffic::kEncodedBytesMax, '\n');
  BlobStore store;
  std::string error;
  ASSERT_TRUE(store.open(root_, &error)) << error;
  TrafficHistory history;
  ::testing::internal::CaptureStderr();
  history.start(store, [] { return RequestTotals{}; });
  EXPECT_NE(::testing::internal::GetCapturedStderr().find("is damaged"), std::string::npos);
  EXPECT_EQ(history.current(RequestTotals{}, today).of_day(today).lookups, 0u);
  history.stop();
}

TEST(UnixDay, CountsWholeUtcDays) {
  EXPECT_EQ(unix_day(0), 0);
  EXPECT_EQ(unix_day(86399), 0);
  EXPECT_EQ(unix_day(86400), 1);
  EXPECT_EQ(unix_day(-1), -1);
}

} // namespace
} // namespace regcache::registry

#include "registry/serve/daily_traffic.h"

#include <gtest/gtest.h>

#include <string>

namespace regcache::registry {
namespace {

TEST(DailyTraffic, AddsToTheSameDay) {
  DailyTraffic traffic;
  traffic.add(DayTraffic{100, 4, 3, 1000, 10});
  traffic.add(DayTraffic{100, 2, 1, 24, 5});
  EXPECT_EQ(traffic.of_day(100), (DayTraffic{100, 6, 4, 1024, 15}));
  EXPECT_EQ(traffic.of_day(99), (DayTraffic{99, 0, 0, 0, 0}));
}

TEST(DailyTraffic, ListsNewestFirstAndDropsTheOldestWhenFull) {
  DailyTraffic traffic;
  for (int64_t day = 1; day <= 40; ++day)
    traffic.add(DayTraffic{day, 1, 1, 1, 1});
  size_t count = 0;
  auto days = traffic.newest_first(&count);
  ASSERT_EQ(count, DailyTraffic::kDaysKept);
  EXPECT_EQ(days[0].day, 40);
  EXPECT_EQ(days[count - 1].day, 40 - static_cast<int64_t>(DailyTraffic::kDaysKept) + 1);
  traffic.add(DayTraffic{2, 1, 1, 1, 1}); // older than every kept day: dropped
  EXPECT_EQ(traffic.of_day(2).lookups, 0u);
}

TEST(DailyTraffic, KeepsDaysSortedWhenTheClockStepsBack) {
  DailyTraffic traffic;
  traffic.add(DayTraffic{10, 1, 0, 0, 1});
  traffic.add(DayTraffic{8, 2, 0, 0, 2});
  traffic.add(DayTraffic{9, 3, 0, 0, 3});
  size_t count = 0;
  auto days = traffic.newest_first(&count);
  ASSERT_EQ(count, 3u);
  EXPECT_EQ(days[0].day, 10);
  EXPECT_EQ(days[1].day, 9);
  EXPECT_EQ(days[2].day, 8);
}

TEST(DailyTraffic, EncodeDecodeRoundTrips) {
  DailyTraffic traffic;
  traffic.add(DayTraffic{20788, 4, 1, 1024, 5});
  traffic.add(DayTraffic{20789, 8, 7, uint64_t{3} << 40, 20});
  auto decoded = DailyTraffic::decode(traffic.encode());
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->encode(), traffic.encode());
  EXPECT_EQ(decoded->of_day(20789), (DayTraffic{20789, 8, 7, uint64_t{3} << 40, 20}));
}

TEST(DailyTraffic, FullHistoryEncodesWithinItsBound) {
  DailyTraffic traffic;
  for (int64_t day = 0; day < 40; ++day)
    traffic.add(DayTraffic{day + 20000, UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX});
  EXPECT_LE(traffic.encode().size(), DailyTraffic::kEncodedBytesMax);
  EXPECT_TRUE(DailyTraffic::decode(traffic.encode()));
}

TEST(DailyTraffic, DecodeRefusesDamagedText) {
  const std::string header = "regcache-daily-traffic 1\n";
  EXPECT_FALSE(DailyTraffic::decode(""));
  EXPECT_FALSE(DailyTraffic::decode("something else\n"));
  EXPECT_FALSE(DailyTraffic::decode(header + "1 3 2 4\n"));              // short line
  EXPECT_FALSE(DailyTraffic::decode(header + "1 3 2 4 5"));              // cut off
  EXPECT_FALSE(DailyTraffic::decode(header + "1 3 2 4 5 6\n"));          // long line
  EXPECT_FALSE(DailyTraffic::decode(header + "1 3 2 x 5\n"));            // not a number
  EXPECT_FALSE(DailyTraffic::decode(header + "1 3 2 4 5\n1 3 2 4 5\n")); // a day twice
  EXPECT_FALSE(DailyTraffic::decode(header + "2 3 2 4 5\n1 3 2 4 5\n")); // out of order
  EXPECT_FALSE(DailyTraffic::decode(header + "1 2 3 4 5\n"));            // answered > lookups
  EXPECT_TRUE(DailyTraffic::decode(header + "1 3 2 4 5\n2 3 2 4 5\n"));
  EXPECT_TRUE(DailyTraffic::decode(header));
}

} // namespace
} // namespace regcache::registry

#include "registry/api/nginx_duration.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace regcache::registry {
namespace {

constexpr uint64_t kSecondMs = 1000;
constexpr uint64_t kMinuteMs = 60 * kSecondMs;
constexpr uint64_t kHourMs = 60 * kMinuteMs;
constexpr uint64_t kDayMs = 24 * kHourMs;

struct DurationCase {
  std::string_view text;
  uint64_t expected_ms;
};

void expect_refused(const std::vector<std::string_view> &inputs) {
  for (std::string_view input : inputs) {
    EXPECT_EQ(parse_nginx_duration_ms(input), std::nullopt) << "input: '" << input << "'";
  }
}

TEST(NginxDurationTest, ParsesEachUnitAndCombinationsInDescendingOrder) {
  const std::vector<DurationCase> cases = {
      {"0", 0},
      {"30", 30 * kSecondMs}, // a plain number counts seconds
      {"010m", 10 * kMinuteMs},
      {"500ms", 500},
      {"10s", 10 * kSecondMs},
      {"10m", 10 * kMinuteMs},
      {"1h", kHourMs},
      {"60d", 60 * kDayMs},
      {"2w", 14 * kDayMs},
      {"1M", 30 * kDayMs},
      {"1y", 365 * kDayMs},
      {"1h30m", 90 * kMinuteMs},
      {"1m1ms", kMinuteMs + 1},
      {"1y2M3w4d5h6m7s8ms", 365 * kDayMs + 60 * kDayMs + 21 * kDayMs + 4 * kDayMs + 5 * kHourMs +
                                6 * kMinuteMs + 7 * kSecondMs + 8},
  };
  for (const DurationCase &c : cases) {
    EXPECT_EQ(parse_nginx_duration_ms(c.text), std::optional<uint64_t>(c.expected_ms))
        << "input: '" << c.text << "'";
  }
}

TEST(NginxDurationTest, CountsATrailingBareNumberAsSecondsAsNginxDoes) {
  EXPECT_EQ(parse_nginx_duration_ms("1h30"), kHourMs + 30 * kSecondMs);
  EXPECT_EQ(parse_nginx_duration_ms("1s5"), 6 * kSecondMs);
}

TEST(NginxDurationTest, RefusesEmptyAndUnknownUnits) {
  expect_refused({"", "10x", "10S", "10H", "1D", "10mm", "ms", "m"});
}

TEST(NginxDurationTest, RefusesUnitsRepeatedOrOutOfOrder) {
  expect_refused({"1h1h", "30m1h", "1ms1s", "1d1M", "1s1s"});
}

TEST(NginxDurationTest, RefusesAUnitWithoutANumber) {
  expect_refused({"h", "1hm", "1h30mms"});
}

TEST(NginxDurationTest, RefusesSignsFractionsAndWhitespace) {
  expect_refused({"-1", "+1", "1.5h", " 10m", "10m ", "1h 30m", "\t1h"});
}

TEST(NginxDurationTest, AcceptsUpToTheLargestMillisecondCountAndRefusesOverflow) {
  EXPECT_EQ(parse_nginx_duration_ms("18446744073709551615ms"), UINT64_MAX);
  expect_refused({
      "18446744073709551616ms", // the number itself overflows
      "18446744073709552s",     // the number fits, in milliseconds it does not
      "584942418y",             // a single part overflows
      "584942417y1y",           // refused for order, and would overflow anyway
      "584942417y12M",          // the sum overflows
      "99999999999999999999999",
  });
}

} // namespace
} // namespace regcache::registry

#include "http/ratelimit_header.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/unit/http/guarded_input.h"

namespace regcache::http {
namespace {

TEST(RateLimitHeader, ReadsDockerHubsLimitWithItsWindow) {
  EXPECT_EQ(parse_ratelimit_header("100;w=21600"), (RateLimitValue{100, 21600}));
}

TEST(RateLimitHeader, ReadsACountWithoutParameters) {
  EXPECT_EQ(parse_ratelimit_header("76"), (RateLimitValue{76, 0}));
  EXPECT_EQ(parse_ratelimit_header("0"), (RateLimitValue{0, 0}));
}

TEST(RateLimitHeader, AllowsSpacesAroundSeparators) {
  EXPECT_EQ(parse_ratelimit_header(" 76 ; w = 21600 "), (RateLimitValue{76, 21600}));
}

TEST(RateLimitHeader, SkipsUnknownParametersTokenOrQuoted) {
  EXPECT_EQ(parse_ratelimit_header("5;policy=ip;w=60"), (RateLimitValue{5, 60}));
  EXPECT_EQ(parse_ratelimit_header("5;w=60;comment=\"a \\\"b\\\" c;w=1\""),
            (RateLimitValue{5, 60}));
}

TEST(RateLimitHeader, RejectsEmptyAndNonNumericCounts) {
  for (const char *bad : {"", " ", "abc", "-1", "+1", "1.5", "0x10", ";w=60", "1e3"})
    EXPECT_FALSE(parse_ratelimit_header(bad)) << bad;
}

TEST(RateLimitHeader, RejectsTrailingGarbage) {
  for (const char *bad : {"100 200", "100,w=60", "100;", "100;w", "100;w=", "100;=60", "100;w=60x",
                          "100;w=-1", "100;q=\"open", "100;q=\"a\\"})
    EXPECT_FALSE(parse_ratelimit_header(bad)) << bad;
}

TEST(RateLimitHeader, RejectsASecondWindow) {
  EXPECT_FALSE(parse_ratelimit_header("100;w=60;w=120"));
}

TEST(RateLimitHeader, RejectsValuesAboveTheMaximumWithoutOverflowing) {
  EXPECT_EQ(parse_ratelimit_header(std::to_string(kRateLimitValueMax)),
            (RateLimitValue{kRateLimitValueMax, 0}));
  EXPECT_FALSE(parse_ratelimit_header(std::to_string(kRateLimitValueMax + 1)));
  EXPECT_FALSE(parse_ratelimit_header("99999999999999999999999999"));
  EXPECT_FALSE(parse_ratelimit_header("1;w=99999999999999999999999999"));
}

TEST(RateLimitHeader, RejectsControlCharactersInQuotedParameters) {
  EXPECT_FALSE(parse_ratelimit_header(std::string("1;q=\"a\nb\"")));
}

TEST(RateLimitHeader, NeverReadsPastTheValue) {
  // Each value flush against an unreadable page, whole and every prefix: an over-read crashes.
  testing::GuardedInput guarded(64);
  for (const char *value : {"100;w=21600", "76 ; w = 21600 ", "5;q=\"a\\\"b\"", "5;q=\"open",
                            "5;q=\"a\\", "100;w", "100;w=", "  ", "12345678901234567890"}) {
    const std::string_view text(value);
    for (size_t bytes = 0; bytes <= text.size(); ++bytes) {
      const std::span<const char> placed = guarded.place(text.substr(0, bytes));
      EXPECT_EQ(parse_ratelimit_header(std::string_view(placed.data(), placed.size())),
                parse_ratelimit_header(std::string(text.substr(0, bytes))))
          << value << " cut at " << bytes;
    }
  }
}

} // namespace
} // namespace regcache::http

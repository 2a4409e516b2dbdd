#include "registry/api/byte_size.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string_view>
#include <vector>

namespace regcache::registry {
namespace {

constexpr uint64_t kKiB = uint64_t{1} << 10;
constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;

TEST(NginxSizeTest, ParsesBytesAndEachUnitInEitherCase) {
  EXPECT_EQ(parse_nginx_size_bytes("0"), 0u);
  EXPECT_EQ(parse_nginx_size_bytes("1048576"), kMiB);
  EXPECT_EQ(parse_nginx_size_bytes("1024k"), kMiB);
  EXPECT_EQ(parse_nginx_size_bytes("1024K"), kMiB);
  EXPECT_EQ(parse_nginx_size_bytes("500m"), 500 * kMiB);
  EXPECT_EQ(parse_nginx_size_bytes("500M"), 500 * kMiB);
  EXPECT_EQ(parse_nginx_size_bytes("32g"), 32 * kGiB);
  EXPECT_EQ(parse_nginx_size_bytes("32G"), 32 * kGiB);
  EXPECT_EQ(parse_nginx_size_bytes("007k"), 7 * kKiB);
}

TEST(NginxSizeTest, RefusesWhatNginxRefuses) {
  const std::vector<std::string_view> refused = {"",     "k",    "g",    "-1",   "+5",
                                                 "1.5g", "32 g", " 32g", "32g ", "32gb",
                                                 "32t",  "1kk",  "0x10", "ten"};
  for (std::string_view text : refused)
    EXPECT_EQ(parse_nginx_size_bytes(text), std::nullopt) << "'" << text << "'";
}

TEST(NginxSizeTest, AcceptsUpToTheLargestOffTAndRefusesOneMore) {
  EXPECT_EQ(parse_nginx_size_bytes("9223372036854775807"), uint64_t{9223372036854775807u});
  EXPECT_EQ(parse_nginx_size_bytes("9223372036854775808"), std::nullopt);
  EXPECT_EQ(parse_nginx_size_bytes("8589934591g"), uint64_t{8589934591} * kGiB);
  EXPECT_EQ(parse_nginx_size_bytes("8589934592g"), std::nullopt); // 2^63 bytes
  EXPECT_EQ(parse_nginx_size_bytes("99999999999999999999999"), std::nullopt);
}

TEST(SpaceFloorTest, ParsesAPercentageOrASize) {
  EXPECT_EQ(parse_space_floor("5%"), (SpaceFloor{true, 5}));
  EXPECT_EQ(parse_space_floor("0%"), (SpaceFloor{true, 0}));
  EXPECT_EQ(parse_space_floor("99%"), (SpaceFloor{true, 99}));
  EXPECT_EQ(parse_space_floor("2g"), (SpaceFloor{false, 2 * kGiB}));
  EXPECT_EQ(parse_space_floor("4096"), (SpaceFloor{false, 4096}));
}

TEST(SpaceFloorTest, RefusesPercentagesOutsideZeroToNinetyNine) {
  for (std::string_view text : {"100%", "150%", "%", "5.5%", "-1%", "5 %", "5%%", "g%"})
    EXPECT_EQ(parse_space_floor(text), std::nullopt) << "'" << text << "'";
}

TEST(SpaceFloorTest, BytesOfAFileSystem) {
  EXPECT_EQ((SpaceFloor{true, 5}).bytes_of(1000 * kMiB), 50 * kMiB);
  EXPECT_EQ((SpaceFloor{false, 7 * kMiB}).bytes_of(1000 * kMiB), 7 * kMiB);
  EXPECT_EQ((SpaceFloor{true, 0}).bytes_of(1000 * kMiB), 0u);
  // No overflow on the largest file systems.
  EXPECT_EQ((SpaceFloor{true, 50}).bytes_of(UINT64_MAX), UINT64_MAX / 100 * 50);
}

TEST(ByteSizeFormatTest, UsesTheLargestUnitBelowTheValue) {
  EXPECT_EQ(format_byte_size(0), "0 bytes");
  EXPECT_EQ(format_byte_size(1023), "1023 bytes");
  EXPECT_EQ(format_byte_size(1536), "1.5 KiB");
  EXPECT_EQ(format_byte_size(340 * kMiB), "340.0 MiB");
  EXPECT_EQ(format_byte_size(32 * kGiB), "32.0 GiB");
}

} // namespace
} // namespace regcache::registry

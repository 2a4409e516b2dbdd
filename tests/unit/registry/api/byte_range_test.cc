#include "registry/api/byte_range.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/unit/http/guarded_input.h"

namespace regcache::registry {

// Readable failure messages (found by ADL).
void PrintTo(const ByteRange &range, std::ostream *out) {
  *out << "[" << range.first << ", " << range.last << "]";
}

namespace {

using Verdict = ByteRanges::Verdict;

// Parses `value` in ordinary memory and flush against a guard page (an over-read crashes), and
// checks that both agree. Returns the ranges.
ByteRanges parse(std::string_view value, uint64_t size_bytes) {
  const ByteRanges whole = parse_byte_ranges(value, size_bytes);
  http::testing::GuardedInput guarded(value.size());
  const std::span<const char> placed = guarded.place(value);
  const ByteRanges against_guard =
      parse_byte_ranges(std::string_view(placed.data(), placed.size()), size_bytes);
  EXPECT_EQ(against_guard.verdict, whole.verdict) << value;
  EXPECT_EQ(std::vector<ByteRange>(against_guard.view().begin(), against_guard.view().end()),
            std::vector<ByteRange>(whole.view().begin(), whole.view().end()))
      << value;
  return whole;
}

std::vector<ByteRange> ranges_of(std::string_view value, uint64_t size_bytes) {
  const ByteRanges ranges = parse(value, size_bytes);
  EXPECT_EQ(ranges.verdict, Verdict::Satisfiable) << value;
  return {ranges.view().begin(), ranges.view().end()};
}

void expect_ignored(std::string_view value, uint64_t size_bytes = 1000) {
  const ByteRanges ranges = parse(value, size_bytes);
  EXPECT_EQ(ranges.verdict, Verdict::Ignore) << "'" << value << "'";
  EXPECT_EQ(ranges.count, 0u) << value;
}

void expect_unsatisfiable(std::string_view value, uint64_t size_bytes = 1000) {
  const ByteRanges ranges = parse(value, size_bytes);
  EXPECT_EQ(ranges.verdict, Verdict::Unsatisfiable) << "'" << value << "'";
  EXPECT_EQ(ranges.count, 0u) << value;
}

using Ranges = std::vector<ByteRange>;

TEST(ByteRangeTest, FirstAndLastSelectThoseBytesBothIncluded) {
  EXPECT_EQ(ranges_of("bytes=0-499", 1000), (Ranges{{0, 499}}));
  EXPECT_EQ(ranges_of("bytes=500-999", 1000), (Ranges{{500, 999}}));
  EXPECT_EQ(ranges_of("bytes=7-7", 1000), (Ranges{{7, 7}}));
}

TEST(ByteRangeTest, OpenEndedRangeRunsToTheLastByte) {
  EXPECT_EQ(ranges_of("bytes=9500-", 10000), (Ranges{{9500, 9999}}));
  EXPECT_EQ(ranges_of("bytes=0-", 10000), (Ranges{{0, 9999}}));
  EXPECT_EQ(ranges_of("bytes=9999-", 10000), (Ranges{{9999, 9999}}));
}

TEST(ByteRangeTest, SuffixRangeSelectsTheFinalBytes) {
  EXPECT_EQ(ranges_of("bytes=-500", 10000), (Ranges{{9500, 9999}}));
  EXPECT_EQ(ranges_of("bytes=-1", 10000), (Ranges{{9999, 9999}}));
}

TEST(ByteRangeTest, SuffixLongerThanTheBlobSelectsAllOfIt) {
  EXPECT_EQ(ranges_of("bytes=-10000", 10000), (Ranges{{0, 9999}}));
  EXPECT_EQ(ranges_of("bytes=-20000", 10000), (Ranges{{0, 9999}}));
}

TEST(ByteRangeTest, LastPosPastTheEndIsClampedToTheLastByte) {
  EXPECT_EQ(ranges_of("bytes=500-5000", 1000), (Ranges{{500, 999}}));
  EXPECT_EQ(ranges_of("bytes=0-18446744073709551615", 1000), (Ranges{{0, 999}}));
}

TEST(ByteRangeTest, NumbersBeyond64BitsSaturateInsteadOfWrapping) {
  // 2^64 + 5 must not wrap to 5.
  expect_unsatisfiable("bytes=18446744073709551621-", 1000);
  EXPECT_EQ(ranges_of("bytes=0-99999999999999999999999999", 1000), (Ranges{{0, 999}}));
  EXPECT_EQ(ranges_of("bytes=-99999999999999999999999999", 1000), (Ranges{{0, 999}}));
}

TEST(ByteRangeTest, UnitIsCaseInsensitive) {
  EXPECT_EQ(ranges_of("BYTES=0-1", 10), (Ranges{{0, 1}}));
  EXPECT_EQ(ranges_of("Bytes=-2", 10), (Ranges{{8, 9}}));
}

TEST(ByteRangeTest, SeveralRangesKeepTheirOrder) {
  EXPECT_EQ(ranges_of("bytes=0-99,200-299", 1000), (Ranges{{0, 99}, {200, 299}}));
  EXPECT_EQ(ranges_of("bytes=500-599,0-9,-1", 1000), (Ranges{{500, 599}, {0, 9}, {999, 999}}));
}

TEST(ByteRangeTest, OwsAroundCommasAndEmptyListElementsAreAccepted) {
  EXPECT_EQ(ranges_of("bytes=0-1 , 4-5", 10), (Ranges{{0, 1}, {4, 5}}));
  EXPECT_EQ(ranges_of("bytes=0-1,\t4-5", 10), (Ranges{{0, 1}, {4, 5}}));
  EXPECT_EQ(ranges_of("bytes=,0-1,,4-5,", 10), (Ranges{{0, 1}, {4, 5}}));
  EXPECT_EQ(ranges_of("bytes=0-1, ,4-5", 10), (Ranges{{0, 1}, {4, 5}}));
}

TEST(ByteRangeTest, UnsatisfiableRangesBesideSatisfiableOnesAreLeftOut) {
  EXPECT_EQ(ranges_of("bytes=2000-3000,0-9", 1000), (Ranges{{0, 9}}));
  EXPECT_EQ(ranges_of("bytes=-0,5-6", 1000), (Ranges{{5, 6}}));
}

TEST(ByteRangeTest, FirstPosAtOrPastTheSizeIsUnsatisfiable) {
  expect_unsatisfiable("bytes=1000-", 1000);
  expect_unsatisfiable("bytes=1000-2000", 1000);
  expect_unsatisfiable("bytes=5000-5001,1000-", 1000);
}

TEST(ByteRangeTest, ZeroSuffixLengthIsUnsatisfiable) {
  expect_unsatisfiable("bytes=-0", 1000);
}

TEST(ByteRangeTest, AnyIntRangeOfAnEmptyBlobIsUnsatisfiable) {
  expect_unsatisfiable("bytes=0-", 0);
  expect_unsatisfiable("bytes=0-0", 0);
}

TEST(ByteRangeTest, SuffixRangeOfAnEmptyBlobIsIgnored) {
  // Satisfiable by RFC 9110 section 14.1.1, but it selects no byte a Content-Range could name:
  // the whole (empty) blob is the answer.
  expect_ignored("bytes=-5", 0);
  expect_ignored("bytes=0-4,-5", 0);
}

TEST(ByteRangeTest, InvalidSyntaxIsIgnored) {
  const std::vector<std::string> invalid = {
      "",           "bytes",         "bytes=",      "bytes=,",       "bytes= , ,",
      "bytes=-",    "bytes=abc",     "bytes=1",     "bytes=1-2-3",   "bytes=1-a",
      "bytes=a-1",  "bytes=--1",     "bytes=-1-",   "bytes=+1-2",    "bytes=1 -2",
      "bytes=1- 2", "bytes=0x10-20", "bytes=1.5-2", "bytes=0-1;2-3", "bytes=0-1,x",
      "bytes =0-1", "bytes:0-1",     "0-1",         "=0-1",          std::string("bytes=0-1\0", 10),
  };
  for (const std::string &value : invalid)
    expect_ignored(value);
}

TEST(ByteRangeTest, LastPosBeforeFirstPosMakesTheWholeHeaderInvalid) {
  expect_ignored("bytes=500-400");
  expect_ignored("bytes=0-1,500-400");
}

TEST(ByteRangeTest, OtherUnitsAreIgnored) {
  expect_ignored("items=0-1");
  expect_ignored("bytesx=0-1");
  expect_ignored("none");
}

TEST(ByteRangeTest, AtMostTheBoundOfRangesIsHonoured) {
  std::string value = "bytes=";
  for (size_t i = 0; i < kByteRangesMax; ++i)
    value += (i == 0 ? "" : ",") + std::to_string(i * 10) + "-" + std::to_string(i * 10 + 1);
  const ByteRanges ranges = parse(value, 100000);
  ASSERT_EQ(ranges.verdict, Verdict::Satisfiable);
  ASSERT_EQ(ranges.count, kByteRangesMax);
  EXPECT_EQ(ranges.ranges[kByteRangesMax - 1],
            (ByteRange{(kByteRangesMax - 1) * 10, (kByteRangesMax - 1) * 10 + 1}));
  EXPECT_TRUE(byte_ranges_are_valid(value));
}

TEST(ByteRangeTest, MoreRangesThanTheBoundAreIgnored) {
  std::string value = "bytes=";
  for (size_t i = 0; i <= kByteRangesMax; ++i)
    value += (i == 0 ? "" : ",") + std::to_string(i * 10) + "-" + std::to_string(i * 10 + 1);
  expect_ignored(value, 100000);
  EXPECT_FALSE(byte_ranges_are_valid(value));
}

TEST(ByteRangeTest, EmptyListElementsDoNotCountTowardTheBound) {
  std::string value = "bytes=";
  for (size_t i = 0; i < kByteRangesMax; ++i)
    value += ",," + std::to_string(i) + "-" + std::to_string(i);
  EXPECT_EQ(parse(value, 1000).count, kByteRangesMax);
}

TEST(ByteRangeTest, RangesAskingForMoreThanTheWholeBlobAreIgnored) {
  // Overlaps that would send more bytes than the blob holds: the whole blob is cheaper.
  expect_ignored("bytes=0-,0-", 1000);
  expect_ignored("bytes=0-599,400-999", 1000);
  expect_ignored("bytes=-1000,0-0", 1000);
  // Overlapping but no more than the whole: served as asked.
  EXPECT_EQ(ranges_of("bytes=0-499,400-899", 1000), (Ranges{{0, 499}, {400, 899}}));
  EXPECT_EQ(ranges_of("bytes=0-499,500-", 1000), (Ranges{{0, 499}, {500, 999}}));
}

TEST(ByteRangeTest, TotalBytesAddsEveryRange) {
  EXPECT_EQ(parse("bytes=0-99,200-299,-1", 1000).total_bytes(), 201u);
  EXPECT_EQ(parse("bytes=x", 1000).total_bytes(), 0u);
}

TEST(ByteRangeTest, ValidityDoesNotDependOnTheSize) {
  EXPECT_TRUE(byte_ranges_are_valid("bytes=5000-"));
  EXPECT_TRUE(byte_ranges_are_valid("bytes=-0"));
  EXPECT_TRUE(byte_ranges_are_valid("bytes=0-1, 3-4"));
  EXPECT_FALSE(byte_ranges_are_valid("bytes=2-1"));
  EXPECT_FALSE(byte_ranges_are_valid("bytes="));
  EXPECT_FALSE(byte_ranges_are_valid("pages=1-2"));
}

TEST(ByteRangeTest, EveryPrefixOfAValidValueParsesWithoutOverReading) {
  // Cut anywhere, the value is parsed within its bounds; the guard page catches an over-read.
  const std::string value = "bytes=0-99, 200-299,,-5 ,1000-";
  for (size_t size = 0; size <= value.size(); ++size)
    parse(std::string_view(value).substr(0, size), 5000);
}

const std::string kEtag = "\"sha256:" + std::string(64, 'a') + "\"";

TEST(IfRangeTest, TheSameStrongEtagPermitsTheRange) {
  EXPECT_TRUE(if_range_permits(kEtag, kEtag));
}

TEST(IfRangeTest, AnotherEtagDoesNotPermitIt) {
  EXPECT_FALSE(if_range_permits("\"sha256:" + std::string(64, 'b') + "\"", kEtag));
  EXPECT_FALSE(if_range_permits("\"\"", kEtag));
  EXPECT_FALSE(if_range_permits("", kEtag));
}

TEST(IfRangeTest, AWeakEtagNeverMatches) {
  EXPECT_FALSE(if_range_permits("W/" + kEtag, kEtag));
}

TEST(IfRangeTest, AnHttpDateNeverMatches) {
  EXPECT_FALSE(if_range_permits("Sun, 06 Nov 1994 08:49:37 GMT", kEtag));
}

TEST(IfRangeTest, AnUnquotedDigestIsNotTheEtag) {
  EXPECT_FALSE(if_range_permits(kEtag.substr(1, kEtag.size() - 2), kEtag));
  EXPECT_FALSE(if_range_permits(kEtag + " ", kEtag));
}

} // namespace
} // namespace regcache::registry

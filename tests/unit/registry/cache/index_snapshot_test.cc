#include "registry/cache/index_snapshot.h"

#include <gtest/gtest.h>

#include <span>
#include <string>

#include "registry/cache/sha256.h"

namespace regcache::registry {
namespace {

Digest digest_of(uint8_t first, uint8_t last = 0) {
  Digest digest{};
  digest.bytes.front() = first;
  digest.bytes.back() = last;
  return digest;
}

IndexSnapshot sample() {
  IndexSnapshot snapshot;
  snapshot.eviction_clock = 41;
  snapshot.scrub_cursor = digest_of(0x20);
  snapshot.records = {{digest_of(0x01), 0, 1'700'000'000, 1, 1},
                      {digest_of(0x10, 7), 4096, 1'700'000'100, 3, 44},
                      {digest_of(0xff, 0xff), uint64_t{5} << 30, 1'700'000'200, 12, 12}};
  return snapshot;
}

bool decodes(const std::string &bytes, std::string *problem = nullptr) {
  IndexSnapshot out;
  std::string ignored;
  return decode_index_snapshot(bytes, out, problem ? problem : &ignored);
}

TEST(IndexSnapshotTest, RoundTripsRecordsAndTheScrubCursor) {
  const IndexSnapshot in = sample();
  const std::string bytes = encode_index_snapshot(in);
  EXPECT_EQ(bytes.size(), kIndexHeaderBytes + 3 * kIndexRecordBytes + kIndexTrailerBytes);
  IndexSnapshot out;
  std::string problem;
  ASSERT_TRUE(decode_index_snapshot(bytes, out, &problem)) << problem;
  EXPECT_EQ(out.records, in.records);
  EXPECT_EQ(out.scrub_cursor, in.scrub_cursor);
  EXPECT_EQ(out.eviction_clock, 41u);
}

TEST(IndexSnapshotTest, AnEmptyIndexRoundTrips) {
  IndexSnapshot out;
  std::string problem;
  ASSERT_TRUE(decode_index_snapshot(encode_index_snapshot(IndexSnapshot{}), out, &problem));
  EXPECT_TRUE(out.records.empty());
}

TEST(IndexSnapshotTest, EveryFlippedByteIsRefused) {
  const std::string bytes = encode_index_snapshot(sample());
  for (size_t at = 0; at < bytes.size(); ++at) {
    std::string damaged = bytes;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x01);
    EXPECT_FALSE(decodes(damaged)) << "byte " << at;
  }
}

TEST(IndexSnapshotTest, EveryCutOffLengthIsRefused) {
  const std::string bytes = encode_index_snapshot(sample());
  for (size_t length = 0; length < bytes.size(); ++length)
    EXPECT_FALSE(decodes(bytes.substr(0, length))) << "length " << length;
  EXPECT_FALSE(decodes(bytes + "x"));
}

TEST(IndexSnapshotTest, AForeignFileIsRefusedWithAReason) {
  std::string problem;
  EXPECT_FALSE(decodes(std::string(200, 'a'), &problem));
  EXPECT_NE(problem.find("not a regcache blob index"), std::string::npos) << problem;
}

TEST(IndexSnapshotTest, AHugeRecordCountIsRefusedWithoutReadingPastTheEnd) {
  std::string bytes = encode_index_snapshot(sample());
  for (size_t i = 16; i < 24; ++i)
    bytes[i] = static_cast<char>(0xff); // count = 2^64 - 1
  std::string problem;
  EXPECT_FALSE(decodes(bytes, &problem));
  EXPECT_NE(problem.find("record count"), std::string::npos) << problem;
}

// What a buggy writer would produce: a valid checksum over records out of order.
std::string resigned(std::string body) {
  const Digest checksum = sha256_of(std::span<const char>(body.data(), body.size()));
  body.append(reinterpret_cast<const char *>(checksum.bytes.data()), checksum.bytes.size());
  return body;
}

TEST(IndexSnapshotTest, RecordsOutOfOrderAreRefusedEvenWithAGoodChecksum) {
  const std::string bytes = encode_index_snapshot(sample());
  std::string body = bytes.substr(0, bytes.size() - kIndexTrailerBytes);
  const std::string first = body.substr(kIndexHeaderBytes, kIndexRecordBytes);
  const std::string second = body.substr(kIndexHeaderBytes + kIndexRecordBytes, kIndexRecordBytes);
  body.replace(kIndexHeaderBytes, kIndexRecordBytes, second);
  body.replace(kIndexHeaderBytes + kIndexRecordBytes, kIndexRecordBytes, first);
  std::string problem;
  EXPECT_FALSE(decodes(resigned(body), &problem));
  EXPECT_NE(problem.find("digest order"), std::string::npos) << problem;
}

TEST(IndexSnapshotTest, ADuplicateDigestIsRefusedEvenWithAGoodChecksum) {
  const std::string bytes = encode_index_snapshot(sample());
  std::string body = bytes.substr(0, bytes.size() - kIndexTrailerBytes);
  body.replace(kIndexHeaderBytes + kIndexRecordBytes, kSha256Bytes,
               body.substr(kIndexHeaderBytes, kSha256Bytes));
  EXPECT_FALSE(decodes(resigned(body)));
}

TEST(IndexSnapshotTest, ANegativeLastUseIsRefusedEvenWithAGoodChecksum) {
  const std::string bytes = encode_index_snapshot(sample());
  std::string body = bytes.substr(0, bytes.size() - kIndexTrailerBytes);
  body[kIndexHeaderBytes + 47] = static_cast<char>(0x80); // the sign bit of the first last use
  std::string problem;
  EXPECT_FALSE(decodes(resigned(body), &problem));
  EXPECT_NE(problem.find("out of range"), std::string::npos) << problem;
}

TEST(IndexSnapshotTest, ZeroHitsOrAPriorityBelowTheHitsIsRefusedEvenWithAGoodChecksum) {
  const std::string bytes = encode_index_snapshot(sample());
  std::string body = bytes.substr(0, bytes.size() - kIndexTrailerBytes);
  std::string no_hits = body;
  no_hits[kIndexHeaderBytes + 48] = 0; // the first record's hits: 1 -> 0
  EXPECT_FALSE(decodes(resigned(no_hits)));
  std::string low_priority = body;
  low_priority[kIndexHeaderBytes + kIndexRecordBytes + 56] = 2; // priority 44 -> 2, hits 3
  EXPECT_FALSE(decodes(resigned(low_priority)));
}

} // namespace
} // namespace regcache::registry

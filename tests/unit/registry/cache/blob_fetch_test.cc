#include "registry/cache/blob_fetch.h"

#include <gtest/gtest.h>

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

} // namespace
} // namespace regcache::registry

#include "registry/cache/blob_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "registry/cache/blob_fetch.h"

namespace regcache::registry {
namespace {

class BlobStoreTest : public ::testing::Test {
protected:
  void SetUp() override {
    char pattern[] = "/tmp/regcache-store-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    root_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  std::string root_;
};

Digest digest_of_hex(char c) {
  return *parse_sha256_digest("sha256:" + std::string(64, c));
}

TEST_F(BlobStoreTest, BlobPathFansOutByTheFirstTwoHexDigits) {
  StorePath path = BlobStore::blob_path(digest_of_hex('b'));
  EXPECT_EQ(std::string(path.c_str()), "blobs/sha256/bb/" + std::string(64, 'b'));
  EXPECT_EQ(std::string(BlobStore::meta_path(digest_of_hex('c')).c_str()),
            "meta/sha256/cc/" + std::string(64, 'c'));
}

TEST_F(BlobStoreTest, OpenCreatesTheLayoutAndEmptiesTmp) {
  std::filesystem::create_directories(root_ + "/tmp");
  std::ofstream(root_ + "/tmp/leftover-from-a-crash") << "unverified";
  BlobStore store;
  std::string error;
  ASSERT_TRUE(store.open(root_, &error)) << error;
  EXPECT_TRUE(std::filesystem::is_directory(root_ + "/blobs/sha256/00"));
  EXPECT_TRUE(std::filesystem::is_directory(root_ + "/blobs/sha256/ff"));
  EXPECT_TRUE(std::filesystem::is_directory(root_ + "/tags"));
  EXPECT_TRUE(std::filesystem::is_empty(root_ + "/tmp"));
}

TEST_F(BlobStoreTest, OpenFailsClearlyOnAnUnwritableDirectory) {
  std::ofstream(root_ + "/a-file") << "x";
  BlobStore store;
  std::string error;
  EXPECT_FALSE(store.open(root_ + "/a-file/cache", &error));
  EXPECT_NE(error.find("a-file"), std::string::npos);
}

TEST_F(BlobStoreTest, TempPathsAreUnique) {
  BlobStore store;
  std::string error;
  ASSERT_TRUE(store.open(root_, &error)) << error;
  EXPECT_NE(std::string(store.temp_path().c_str()), std::string(store.temp_path().c_str()));
}

TEST_F(BlobStoreTest, ConcurrentMissesOfOneDigestShareOneFetch) {
  BlobStore store;
  std::string error;
  ASSERT_TRUE(store.open(root_, &error)) << error;
  bool created_first = false, created_second = false, created_other = false;
  auto first = store.join_or_create_fetch(digest_of_hex('1'), &created_first);
  auto second = store.join_or_create_fetch(digest_of_hex('1'), &created_second);
  auto other = store.join_or_create_fetch(digest_of_hex('2'), &created_other);
  EXPECT_TRUE(created_first);
  EXPECT_FALSE(created_second);
  EXPECT_TRUE(created_other);
  EXPECT_EQ(first.get(), second.get());
  EXPECT_NE(first.get(), other.get());
}

TEST_F(BlobStoreTest, AForgottenFetchIsNotJoinedAgain) {
  BlobStore store;
  std::string error;
  ASSERT_TRUE(store.open(root_, &error)) << error;
  bool created = false;
  auto first = store.join_or_create_fetch(digest_of_hex('3'), &created);
  store.forget_fetch(digest_of_hex('3'), first.get());
  auto second = store.join_or_create_fetch(digest_of_hex('3'), &created);
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

} // namespace
} // namespace regcache::registry

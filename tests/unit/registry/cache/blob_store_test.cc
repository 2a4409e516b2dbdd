#include "registry/cache/blob_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

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

} // namespace
} // namespace regcache::registry

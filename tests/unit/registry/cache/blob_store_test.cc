#include "registry/cache/blob_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/io_ops.h"
#include "registry/cache/sha256.h"
#include "tests/unit/registry/cache/store_on_ring.h"

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

// open_published on a ring: the index's checks on the hit path.
class PublishedFileTest : public StoreOnRingTest {
protected:
  Digest publish(const std::string &bytes) {
    const Digest digest = sha256_of(std::span<const char>(bytes.data(), bytes.size()));
    std::ofstream(path_of(digest), std::ios::binary) << bytes;
    store_.note_published(digest, bytes.size());
    return digest;
  }
  std::string path_of(const Digest &digest) const {
    return root_ + "/" + BlobStore::blob_path(digest).c_str();
  }
  // The fd's result: the size opened, or -errno; closes the fd.
  int64_t open_size(const Digest &digest) {
    uint64_t size_bytes = 0;
    int fd = run(store_.open_published(digest, &size_bytes));
    if (fd < 0)
      return fd;
    ::close(fd);
    return static_cast<int64_t>(size_bytes);
  }
};

TEST_F(PublishedFileTest, AnIndexedFileOpensWithItsSize) {
  const Digest digest = publish("twelve bytes");
  EXPECT_EQ(open_size(digest), 12);
}

TEST_F(PublishedFileTest, ATruncatedFileIsAMissAndIsRemoved) {
  const Digest digest = publish("twelve bytes");
  std::filesystem::resize_file(path_of(digest), 0);
  EXPECT_EQ(open_size(digest), -ENOENT);
  EXPECT_FALSE(std::filesystem::exists(path_of(digest)));
  std::array<RotReport, 2> reports;
  uint64_t dropped = 0;
  ASSERT_EQ(store_.index().take_rot_reports(reports, &dropped), 1u);
  EXPECT_EQ(reports[0].file_size_bytes, 0u);
  EXPECT_EQ(reports[0].index_size_bytes, 12u);
}

TEST_F(PublishedFileTest, AFileBeingEvictedIsAMissButStays) {
  const Digest digest = publish("twelve bytes");
  IndexEntryView view;
  ASSERT_TRUE(store_.index().lookup(digest, view));
  ASSERT_TRUE(store_.index().begin_eviction(view));
  EXPECT_EQ(open_size(digest), -ENOENT);
  EXPECT_TRUE(std::filesystem::exists(path_of(digest)));
}

TEST_F(PublishedFileTest, AFilePlacedByHandIsAdopted) {
  const std::string bytes = "placed by hand";
  const Digest digest = sha256_of(std::span<const char>(bytes.data(), bytes.size()));
  std::ofstream(path_of(digest), std::ios::binary) << bytes;
  EXPECT_EQ(open_size(digest), static_cast<int64_t>(bytes.size()));
  EXPECT_TRUE(store_.index().holds(digest, bytes.size()));
}

TEST_F(PublishedFileTest, AFileDeletedByHandLeavesTheIndex) {
  const Digest digest = publish("twelve bytes");
  std::filesystem::remove(path_of(digest));
  EXPECT_EQ(open_size(digest), -ENOENT);
  EXPECT_EQ(store_.index().count(), 0u);
}

} // namespace
} // namespace regcache::registry

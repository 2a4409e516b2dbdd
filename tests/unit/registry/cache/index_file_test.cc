#include "registry/cache/index_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "registry/cache/blob_store.h"
#include "registry/cache/sha256.h"

namespace regcache::registry {
namespace {

class IndexFileTest : public ::testing::Test {
protected:
  void SetUp() override {
    char pattern[] = "/tmp/regcache-index-file-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    root_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  // Writes a blob file as a publish would; returns its digest.
  Digest put_blob(const std::string &bytes) {
    const Digest digest = sha256_of(std::span<const char>(bytes.data(), bytes.size()));
    const std::string path = root_ + "/" + BlobStore::blob_path(digest).c_str();
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path, std::ios::binary) << bytes;
    return digest;
  }
  bool open(BlobStore &store, IndexLoadReport &report) {
    std::string error;
    const bool opened = store.open(root_, &error, &report);
    EXPECT_TRUE(opened) << error;
    return opened;
  }
  std::string root_;
};

TEST_F(IndexFileTest, AFirstStartRebuildsFromTheDirectory) {
  put_blob("one");
  put_blob(std::string(5000, 'x'));
  BlobStore store;
  IndexLoadReport report;
  ASSERT_TRUE(open(store, report));
  EXPECT_TRUE(report.rebuilt);
  EXPECT_EQ(report.why_rebuilt, "no blob-index file");
  EXPECT_EQ(report.blobs, 2u);
  EXPECT_EQ(report.content_bytes, 5003u);
}

TEST_F(IndexFileTest, ARestartLoadsTheSavedIndexWithItsLastUses) {
  const Digest kept = put_blob("kept");
  {
    BlobStore store;
    IndexLoadReport report;
    ASSERT_TRUE(open(store, report));
    ASSERT_EQ(store.index().check_hit(kept, 4, 1'234'567), BlobIndex::HitVerdict::Serve);
    std::string error;
    ASSERT_TRUE(store.save_index(&error)) << error;
  }
  BlobStore store;
  IndexLoadReport report;
  ASSERT_TRUE(open(store, report));
  EXPECT_FALSE(report.rebuilt) << report.why_rebuilt;
  IndexEntryView view;
  ASSERT_TRUE(store.index().lookup(kept, view));
  EXPECT_EQ(view.last_use_unix_s, 1'234'567);
}

TEST_F(IndexFileTest, FilesPublishedOrRemovedAfterTheSaveAreReconciled) {
  const Digest removed = put_blob("removed later");
  {
    BlobStore store;
    IndexLoadReport report;
    ASSERT_TRUE(open(store, report));
    std::string error;
    ASSERT_TRUE(store.save_index(&error)) << error;
  }
  std::filesystem::remove(root_ + "/" + BlobStore::blob_path(removed).c_str());
  const Digest added = put_blob("added later");
  BlobStore store;
  IndexLoadReport report;
  ASSERT_TRUE(open(store, report));
  EXPECT_FALSE(report.rebuilt);
  EXPECT_EQ(report.added, 1u);
  EXPECT_EQ(report.gone, 1u);
  IndexEntryView view;
  EXPECT_TRUE(store.index().lookup(added, view));
  EXPECT_FALSE(store.index().lookup(removed, view));
}

TEST_F(IndexFileTest, ADamagedIndexIsRefusedAndRebuilt) {
  put_blob("content");
  {
    BlobStore store;
    IndexLoadReport report;
    ASSERT_TRUE(open(store, report));
    std::string error;
    ASSERT_TRUE(store.save_index(&error)) << error;
  }
  {
    std::fstream file(root_ + "/blob-index", std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(60);
    file.put('\x5a');
  }
  BlobStore store;
  IndexLoadReport report;
  ASSERT_TRUE(open(store, report));
  EXPECT_TRUE(report.rebuilt);
  EXPECT_NE(report.why_rebuilt.find("checksum"), std::string::npos) << report.why_rebuilt;
  EXPECT_EQ(report.blobs, 1u);
}

TEST_F(IndexFileTest, NamesThatAreNotDigestsAreNotIndexed) {
  put_blob("real");
  std::filesystem::create_directories(root_ + "/blobs/sha256/ab");
  std::ofstream(root_ + "/blobs/sha256/ab/notes.txt") << "operator's";
  std::ofstream(root_ + "/blobs/sha256/ab/" + std::string(64, 'c')) << "misplaced";
  BlobStore store;
  IndexLoadReport report;
  ASSERT_TRUE(open(store, report));
  EXPECT_EQ(report.blobs, 1u);
}

TEST_F(IndexFileTest, MetaFilesWithoutABlobAreRemovedAtStartAndOthersKept) {
  const Digest kept = put_blob("manifest kept");
  const Digest evicted = *parse_sha256_digest("sha256:" + std::string(64, 'e'));
  for (const Digest &digest : {kept, evicted}) {
    for (const StorePath &path : {BlobStore::meta_path(digest), BlobStore::limited_path(digest)}) {
      const std::string full = root_ + "/" + path.c_str();
      std::filesystem::create_directories(std::filesystem::path(full).parent_path());
      std::ofstream(full) << "x";
    }
  }
  BlobStore store;
  IndexLoadReport report;
  ASSERT_TRUE(open(store, report));
  EXPECT_EQ(report.orphans_removed, 2u);
  EXPECT_TRUE(std::filesystem::exists(root_ + "/" + BlobStore::meta_path(kept).c_str()));
  EXPECT_TRUE(std::filesystem::exists(root_ + "/" + BlobStore::limited_path(kept).c_str()));
  EXPECT_FALSE(std::filesystem::exists(root_ + "/" + BlobStore::meta_path(evicted).c_str()));
  EXPECT_FALSE(std::filesystem::exists(root_ + "/" + BlobStore::limited_path(evicted).c_str()));
}

} // namespace
} // namespace regcache::registry

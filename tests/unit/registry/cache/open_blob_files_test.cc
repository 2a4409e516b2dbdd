#include "registry/cache/open_blob_files.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

namespace regcache::registry {
namespace {

const std::string kPrefix = "/var/cache/regcache/blobs/sha256/";
const std::string kHex = "ab" + std::string(62, 'c');

TEST(OpenBlobPathTest, APublishedBlobNamesItsDigest) {
  std::optional<Digest> digest = digest_of_open_path(kPrefix, kPrefix + "ab/" + kHex);
  ASSERT_TRUE(digest);
  EXPECT_EQ(to_string(*digest), "sha256:" + kHex);
}

TEST(OpenBlobPathTest, OtherFilesAreNotBlobs) {
  for (const std::string &target :
       {kPrefix + "ab/" + kHex + " (deleted)", kPrefix + "cd/" + kHex, kPrefix + "ab/" + kHex + "x",
        std::string("/var/cache/regcache/tmp/123-4"), std::string("socket:[12345]"),
        std::string("pipe:[6789]"), "/other/blobs/sha256/ab/" + kHex,
        kPrefix + "ab/" + std::string(64, 'C')}) {
    EXPECT_FALSE(digest_of_open_path(kPrefix, target)) << target;
  }
}

TEST(OpenBlobFilesTest, FindsAFileThisProcessHoldsOpenAndForgetsItWhenClosed) {
  char pattern[] = "/tmp/regcache-open-files-test-XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  const std::string root = pattern;
  std::filesystem::create_directories(root + "/blobs/sha256/ab");
  const std::string path = root + "/blobs/sha256/ab/" + kHex;
  std::ofstream(path) << "x";
  const int root_fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(root_fd, 0);
  const std::string prefix = open_blobs_prefix(root_fd);
  EXPECT_TRUE(prefix.ends_with("/blobs/sha256/")) << prefix;

  const int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::vector<Digest> open = open_blob_files(prefix);
  EXPECT_EQ(std::count(open.begin(), open.end(), *parse_sha256_digest("sha256:" + kHex)), 1);
  ::close(fd);
  EXPECT_TRUE(open_blob_files(prefix).empty());
  ::close(root_fd);
  std::filesystem::remove_all(root);
}

} // namespace
} // namespace regcache::registry

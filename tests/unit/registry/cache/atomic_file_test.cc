// Small store files through the ring: a write lands whole (or not at all, leaving nothing in
// tmp/), a rewrite replaces the file without disturbing a reader of the old one, and
// read_small_file reads it back, 0 for a missing or empty file.
#include "registry/cache/atomic_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "core/ring.h"
#include "core/task.h"
#include "registry/cache/blob_store.h"
#include "tests/unit/registry/cache/store_on_ring.h"

namespace regcache::registry {
namespace {

using namespace std::string_literals;

// Bytes a text-mode or C-string path would mangle: a NUL, a CR LF, a high byte.
const std::string kSampleBytes = "media/type\0with nul\r\n\xff tail"s;

using AtomicFileTest = StoreOnRingTest;

TEST_F(AtomicFileTest, WriteCreatesTheFileWithExactlyTheBytes) {
  EXPECT_TRUE(run(write_file_atomically(store_, "tags/entry", kSampleBytes, false)));
  EXPECT_EQ(file_text("tags/entry"), kSampleBytes);
}

TEST_F(AtomicFileTest, DurableWriteCreatesTheFileWithExactlyTheBytes) {
  EXPECT_TRUE(run(write_file_atomically(store_, "tags/entry", kSampleBytes, true)));
  EXPECT_EQ(file_text("tags/entry"), kSampleBytes);
}

TEST_F(AtomicFileTest, SuccessfulWriteLeavesNothingInTmp) {
  ASSERT_TRUE(run(write_file_atomically(store_, "tags/entry", kSampleBytes, true)));
  EXPECT_TRUE(tmp_is_empty());
}

TEST_F(AtomicFileTest, RewriteReplacesTheFileWhole) {
  ASSERT_TRUE(run(write_file_atomically(store_, "tags/entry", std::string(4096, 'a'), false)));
  ASSERT_TRUE(run(write_file_atomically(store_, "tags/entry", "short", false)));
  EXPECT_EQ(file_text("tags/entry"), "short"); // no tail of the longer old file
}

TEST_F(AtomicFileTest, ReaderOfTheOldFileKeepsTheOldBytesWhole) {
  ASSERT_TRUE(run(write_file_atomically(store_, "tags/entry", "old bytes", false)));
  int old_fd = ::open((root_ + "/tags/entry").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(old_fd, 0);
  ASSERT_TRUE(run(write_file_atomically(store_, "tags/entry", "new", false)));
  std::array<char, 32> buffer{};
  ssize_t got = ::pread(old_fd, buffer.data(), buffer.size(), 0);
  ::close(old_fd);
  ASSERT_GE(got, 0);
  EXPECT_EQ(std::string_view(buffer.data(), static_cast<size_t>(got)), "old bytes");
  EXPECT_EQ(file_text("tags/entry"), "new");
}

TEST_F(AtomicFileTest, FailedWriteReturnsFalseAndLeavesNothingInTmp) {
  EXPECT_FALSE(
      run(write_file_atomically(store_, "tags/no-such-directory/entry", kSampleBytes, true)));
  EXPECT_TRUE(tmp_is_empty());
  EXPECT_FALSE(std::filesystem::exists(root_ + "/tags/no-such-directory"));
}

TEST_F(AtomicFileTest, ReadSmallFileReturnsTheBytesWritten) {
  ASSERT_TRUE(run(write_file_atomically(store_, "tags/entry", kSampleBytes, false)));
  std::array<char, 256> buffer{};
  int got = run(read_small_file(store_, "tags/entry", buffer));
  ASSERT_EQ(got, static_cast<int>(kSampleBytes.size()));
  EXPECT_EQ(std::string_view(buffer.data(), static_cast<size_t>(got)), kSampleBytes);
}

TEST_F(AtomicFileTest, ReadSmallFileStopsAtTheBufferSize) {
  ASSERT_TRUE(run(write_file_atomically(store_, "tags/entry", std::string(100, 'x'), false)));
  std::array<char, 16> buffer{};
  EXPECT_EQ(run(read_small_file(store_, "tags/entry", buffer)), 16);
}

TEST_F(AtomicFileTest, ReadSmallFileOfAMissingFileReturnsZero) {
  std::array<char, 64> buffer{};
  EXPECT_EQ(run(read_small_file(store_, "tags/never-written", buffer)), 0);
}

TEST_F(AtomicFileTest, EmptyFileRoundTrips) {
  ASSERT_TRUE(run(write_file_atomically(store_, "tags/empty", "", true)));
  struct stat info {};
  ASSERT_EQ(::stat((root_ + "/tags/empty").c_str(), &info), 0); // written, not skipped
  EXPECT_EQ(info.st_size, 0);
  std::array<char, 64> buffer{};
  EXPECT_EQ(run(read_small_file(store_, "tags/empty", buffer)), 0);
}

// The blocking forms, for threads without a ring (the traffic history's).
TEST_F(AtomicFileTest, BlockingWriteCreatesTheFileAndLeavesNothingInTmp) {
  EXPECT_TRUE(write_file_atomically_blocking(store_, "meta/history", kSampleBytes, false));
  EXPECT_EQ(file_text("meta/history"), kSampleBytes);
  EXPECT_TRUE(tmp_is_empty());
}

TEST_F(AtomicFileTest, BlockingRewriteReplacesTheFileWhole) {
  ASSERT_TRUE(write_file_atomically_blocking(store_, "meta/history", "a much longer first", true));
  ASSERT_TRUE(write_file_atomically_blocking(store_, "meta/history", "short", true));
  EXPECT_EQ(file_text("meta/history"), "short");
}

TEST_F(AtomicFileTest, BlockingWriteIntoAMissingFolderFailsAndLeavesNothingInTmp) {
  EXPECT_FALSE(write_file_atomically_blocking(store_, "no/such/folder/f", "x", false));
  EXPECT_TRUE(tmp_is_empty());
}

TEST_F(AtomicFileTest, BlockingReadReturnsTheBytesAndZeroForAMissingFile) {
  ASSERT_TRUE(write_file_atomically_blocking(store_, "meta/history", kSampleBytes, false));
  std::array<char, 64> buffer{};
  int got = read_small_file_blocking(store_, "meta/history", buffer);
  ASSERT_EQ(got, static_cast<int>(kSampleBytes.size()));
  EXPECT_EQ(std::string(buffer.data(), static_cast<size_t>(got)), kSampleBytes);
  EXPECT_EQ(read_small_file_blocking(store_, "meta/missing", buffer), 0);
}

} // namespace
} // namespace regcache::registry

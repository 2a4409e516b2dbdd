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

namespace regcache::registry {
namespace {

using namespace std::string_literals;

// Bytes a text-mode or C-string path would mangle: a NUL, a CR LF, a high byte.
const std::string kSampleBytes = "media/type\0with nul\r\n\xff tail"s;

class AtomicFileTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(ring_.init(core::RingOptions{}, &error)) << error;
    char pattern[] = "/tmp/regcache-atomic-file-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    root_ = pattern;
    ASSERT_TRUE(store_.open(root_, &error)) << error;
  }
  void TearDown() override {
    std::error_code ignored;
    if (!root_.empty())
      std::filesystem::remove_all(root_, ignored);
  }

  // Drives `task` on the ring to its end, bounded by a number of turns.
  template <typename T> T run(core::Task<T> task) {
    std::optional<T> result;
    bool done = false;
    core::spawn([](core::Task<T> task, std::optional<T> &result, bool &done) -> core::Task<void> {
      result.emplace(co_await std::move(task));
      done = true;
    }(std::move(task), result, done));
    for (int turn = 0; turn < 1000 && !done; ++turn)
      ring_.run_once(100);
    if (!done) {
      // Its frame points into this one: returning would let it write to a dead stack.
      std::fputs("store operation did not finish in 1000 ring turns; aborting\n", stderr);
      std::abort();
    }
    return *result;
  }

  std::string file_text(const std::string &relative_path) const {
    std::ifstream in(root_ + "/" + relative_path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  bool tmp_is_empty() const { return std::filesystem::is_empty(root_ + "/tmp"); }

  core::Ring ring_;
  BlobStore store_;
  std::string root_;
};

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

} // namespace
} // namespace regcache::registry

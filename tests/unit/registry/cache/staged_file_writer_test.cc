// The double-buffered writer of a download, through a real ring: every byte lands at its
// offset whatever the piece sizes, and a write that fails (/dev/full answers ENOSPC) loses
// nothing: retarget() puts the unconfirmed bytes into another file, and writing goes on there.
#include "registry/cache/staged_file_writer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <random>
#include <string>
#include <vector>

#include "tests/unit/registry/cache/store_on_ring.h"

namespace regcache::registry {
namespace {

using StagedFileWriterTest = StoreOnRingTest;

std::vector<char> random_bytes(size_t size, uint32_t seed) {
  std::mt19937 generator(seed);
  std::vector<char> bytes(size);
  for (char &byte : bytes)
    byte = static_cast<char>(generator());
  return bytes;
}

std::vector<char> file_bytes(int fd, size_t size) {
  std::vector<char> bytes(size);
  ssize_t got = ::pread(fd, bytes.data(), size, 0);
  bytes.resize(got > 0 ? static_cast<size_t>(got) : 0);
  return bytes;
}

// Appends `bytes` in pieces of sizes that do not divide the stage, then flushes.
core::Task<bool> append_all(StagedFileWriter &writer, const std::vector<char> &bytes,
                            size_t *taken_total) {
  size_t offset = 0;
  for (size_t turn = 0; offset < bytes.size(); ++turn) {
    const size_t piece = std::min<size_t>(bytes.size() - offset, 1000 + turn * 7919 % 300000);
    const size_t taken =
        co_await writer.append(std::span<const char>(bytes.data() + offset, piece));
    offset += taken;
    if (taken < piece)
      break;
  }
  *taken_total = offset;
  bool flushed = co_await writer.flush();
  co_return flushed;
}

TEST_F(StagedFileWriterTest, EveryByteLandsAtItsOffset) {
  const std::vector<char> bytes = random_bytes(3 * StagedFileWriter::kStageBytes + 12345, 1);
  int fd = ::memfd_create("staged-writer-test", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  size_t taken = 0;
  {
    StagedFileWriter writer(fd);
    EXPECT_TRUE(run(append_all(writer, bytes, &taken)));
    EXPECT_EQ(taken, bytes.size());
    EXPECT_EQ(writer.written(), bytes.size());
    EXPECT_EQ(writer.received(), bytes.size());
    EXPECT_FALSE(writer.has_unwritten());
    EXPECT_FALSE(writer.failed());
  }
  EXPECT_EQ(file_bytes(fd, bytes.size() + 1), bytes);
  ::close(fd);
}

core::Task<bool> fail_then_retarget(StagedFileWriter &writer, const std::vector<char> &bytes,
                                    int second_fd, int *failure_errno) {
  size_t taken = co_await writer.append(bytes);
  if (!writer.failed()) {
    bool flushed = co_await writer.flush(); // a stage that never filled fails here
    if (flushed)
      co_return false;
  }
  *failure_errno = writer.failure_errno();
  co_await writer.abandon();
  bool retargeted = co_await writer.retarget(second_fd);
  if (!retargeted)
    co_return false;
  co_await writer.append(std::span<const char>(bytes).subspan(taken));
  bool flushed = co_await writer.flush();
  co_return flushed;
}

TEST_F(StagedFileWriterTest, AFailedWriteLosesNothingOnceRetargeted) {
  const std::vector<char> bytes = random_bytes(2 * StagedFileWriter::kStageBytes + 777, 2);
  int full_fd = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  ASSERT_GE(full_fd, 0);
  int memory_fd = ::memfd_create("staged-writer-test", MFD_CLOEXEC);
  ASSERT_GE(memory_fd, 0);
  int failure_errno = 0;
  {
    StagedFileWriter writer(full_fd);
    EXPECT_TRUE(run(fail_then_retarget(writer, bytes, memory_fd, &failure_errno)));
    EXPECT_EQ(writer.written(), bytes.size());
    EXPECT_FALSE(writer.failed());
  }
  EXPECT_EQ(failure_errno, -ENOSPC);
  EXPECT_EQ(file_bytes(memory_fd, bytes.size() + 1), bytes);
  ::close(full_fd);
  ::close(memory_fd);
}

core::Task<bool> fail_small(StagedFileWriter &writer, std::span<const char> bytes) {
  co_await writer.append(bytes);
  bool flushed = co_await writer.flush();
  co_return flushed;
}

TEST_F(StagedFileWriterTest, AFailedFlushSaysWhyAndKeepsTheBytesUnwritten) {
  const std::vector<char> bytes = random_bytes(4096, 3);
  int full_fd = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  ASSERT_GE(full_fd, 0);
  StagedFileWriter writer(full_fd);
  EXPECT_FALSE(run(fail_small(writer, bytes)));
  EXPECT_TRUE(writer.failed());
  EXPECT_EQ(writer.failure_errno(), -ENOSPC);
  EXPECT_EQ(writer.written(), 0u);
  EXPECT_EQ(writer.received(), bytes.size());
  EXPECT_TRUE(writer.has_unwritten());
  ::close(full_fd);
}

} // namespace
} // namespace regcache::registry

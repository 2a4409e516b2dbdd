// The double-buffered writer of a download, through a real ring: every byte lands at its
// offset whatever the piece sizes, and a write that fails (/dev/full answers ENOSPC) loses
// nothing: retarget() puts the unconfirmed bytes into another file, and writing goes on there.
#include "registry/cache/staged_file_writer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
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

// A file whose writes fail with ENOSPC, and the memory file a writer is retargeted to.
struct FullThenMemory {
  int full_fd = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  int memory_fd = ::memfd_create("staged-writer-test", MFD_CLOEXEC);
  ~FullThenMemory() {
    ::close(full_fd);
    ::close(memory_fd);
  }
};

TEST_F(StagedFileWriterTest, AFailedWriteLosesNothingOnceRetargeted) {
  const std::vector<char> bytes = random_bytes(2 * StagedFileWriter::kStageBytes + 777, 2);
  FullThenMemory files;
  ASSERT_GE(files.full_fd, 0);
  ASSERT_GE(files.memory_fd, 0);
  int failure_errno = 0;
  {
    StagedFileWriter writer(files.full_fd);
    EXPECT_TRUE(run(fail_then_retarget(writer, bytes, files.memory_fd, &failure_errno)));
    EXPECT_EQ(writer.written(), bytes.size());
    EXPECT_FALSE(writer.failed());
  }
  EXPECT_EQ(failure_errno, -ENOSPC);
  EXPECT_EQ(file_bytes(files.memory_fd, bytes.size() + 1), bytes);
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

// Receives `bytes` as a download does: straight into room(), committing pieces of sizes that do
// not divide the stage (sometimes less than the room, sometimes all of it), then flushes.
core::Task<bool> receive_all(StagedFileWriter &writer, const std::vector<char> &bytes) {
  size_t offset = 0;
  // Bounded: every turn commits at least one byte or returns.
  for (size_t turn = 0; offset < bytes.size(); ++turn) {
    const std::span<char> room = co_await writer.room();
    if (room.empty())
      co_return false;
    const size_t want = turn % 3 == 0 ? room.size() : 1 + turn * 7919 % 300000;
    const size_t piece = std::min({bytes.size() - offset, room.size(), want});
    std::memcpy(room.data(), bytes.data() + offset, piece);
    writer.commit(piece);
    offset += piece;
  }
  bool flushed = co_await writer.flush();
  co_return flushed;
}

TEST_F(StagedFileWriterTest, BytesReceivedIntoTheRoomLandAtTheirOffsets) {
  const std::vector<char> bytes = random_bytes(3 * StagedFileWriter::kStageBytes + 4321, 4);
  int fd = ::memfd_create("staged-writer-test", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  {
    StagedFileWriter writer(fd);
    EXPECT_TRUE(run(receive_all(writer, bytes)));
    EXPECT_EQ(writer.written(), bytes.size());
    EXPECT_EQ(writer.received(), bytes.size());
    EXPECT_FALSE(writer.failed());
  }
  EXPECT_EQ(file_bytes(fd, bytes.size() + 1), bytes);
  ::close(fd);
}

// Fills the room until it comes back empty (a write failed), retargets, and receives the rest.
core::Task<bool> receive_fail_retarget(StagedFileWriter &writer, const std::vector<char> &bytes,
                                       int second_fd, size_t *committed_before_failure) {
  size_t offset = 0;
  bool retargeted = false;
  // Bounded: every turn commits at least one byte, retargets once, or returns.
  while (offset < bytes.size()) {
    const std::span<char> room = co_await writer.room();
    if (room.empty()) {
      if (retargeted || !writer.failed())
        co_return false;
      *committed_before_failure = offset;
      co_await writer.abandon();
      retargeted = co_await writer.retarget(second_fd);
      if (!retargeted)
        co_return false;
      continue;
    }
    const size_t piece = std::min(bytes.size() - offset, room.size());
    std::memcpy(room.data(), bytes.data() + offset, piece);
    writer.commit(piece);
    offset += piece;
  }
  bool flushed = co_await writer.flush();
  const bool retargeted_and_flushed = retargeted && flushed;
  co_return retargeted_and_flushed;
}

TEST_F(StagedFileWriterTest, AFailedWriteUnderTheRoomLosesNothingOnceRetargeted) {
  const std::vector<char> bytes = random_bytes(3 * StagedFileWriter::kStageBytes + 99, 5);
  FullThenMemory files;
  ASSERT_GE(files.full_fd, 0);
  ASSERT_GE(files.memory_fd, 0);
  size_t committed_before_failure = 0;
  {
    StagedFileWriter writer(files.full_fd);
    EXPECT_TRUE(
        run(receive_fail_retarget(writer, bytes, files.memory_fd, &committed_before_failure)));
    EXPECT_EQ(writer.written(), bytes.size());
  }
  // The first stage's write failed when the second was full: both stages were committed.
  EXPECT_EQ(committed_before_failure, 2 * StagedFileWriter::kStageBytes);
  EXPECT_EQ(file_bytes(files.memory_fd, bytes.size() + 1), bytes);
}

} // namespace
} // namespace regcache::registry

#include "registry/cache/staged_file_writer.h"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>

namespace regcache::registry {

StagedFileWriter::StagedFileWriter(int fd)
    : fd_(fd), buffers_{std::make_unique<char[]>(kStageBytes),
                        std::make_unique<char[]>(kStageBytes)} {}

StagedFileWriter::~StagedFileWriter() {
  assert(!pending_.started());
}

core::Task<std::span<char>> StagedFileWriter::room() {
  if (staged_ == kStageBytes) {
    bool flushed = co_await flush_staged();
    if (!flushed)
      co_return std::span<char>();
  }
  assert(staged_ < kStageBytes);
  co_return std::span<char>(buffers_[filling_].get() + staged_, kStageBytes - staged_);
}

void StagedFileWriter::commit(size_t bytes) {
  assert(bytes <= kStageBytes - staged_);
  staged_ += bytes;
}

core::Task<size_t> StagedFileWriter::append(std::span<const char> piece) {
  size_t taken = 0;
  // Bounded: every turn copies at least one byte or returns.
  while (taken < piece.size()) {
    const std::span<char> free = co_await room();
    if (free.empty())
      co_return taken;
    const size_t take = std::min(piece.size() - taken, free.size());
    std::memcpy(free.data(), piece.data() + taken, take);
    commit(take);
    taken += take;
  }
  // A full stage goes to the kernel now, as soon as it is full, not at the next call.
  if (staged_ == kStageBytes)
    co_await room();
  co_return taken;
}

core::Task<bool> StagedFileWriter::flush() {
  bool flushed = co_await flush_staged();
  if (!flushed)
    co_return false;
  bool finished = co_await finish_pending();
  co_return finished;
}

core::Task<void> StagedFileWriter::abandon() {
  if (pending_.started())
    co_await pending_.finish();
}

core::Task<bool> StagedFileWriter::retarget(int fd) {
  assert(failed() && !pending_.started());
  fd_ = fd;
  failure_errno_ = 0;
  const uint64_t unconfirmed = submitted_ - written_;
  assert(unconfirmed <= kStageBytes);
  if (unconfirmed > 0) {
    int rc = co_await write_fully(
        std::span<const char>(submitted_buffer(), static_cast<size_t>(unconfirmed)), written_);
    if (rc < 0) {
      failure_errno_ = rc;
      co_return false;
    }
  }
  written_ = submitted_;
  co_return true;
}

std::span<char> StagedFileWriter::spare_buffer() {
  assert(!pending_.started() && written_ == submitted_);
  return std::span<char>(buffers_[filling_ ^ 1].get(), kStageBytes);
}

core::Task<int> StagedFileWriter::write_fully(std::span<const char> bytes, uint64_t offset) {
  // Bounded by the bytes: every turn writes at least one or returns.
  while (!bytes.empty()) {
    int32_t done = co_await core::write(fd_, bytes, offset);
    if (done <= 0)
      co_return done == 0 ? -EIO : done;
    bytes = bytes.subspan(static_cast<size_t>(done));
    offset += static_cast<uint64_t>(done);
  }
  co_return 0;
}

core::Task<bool> StagedFileWriter::finish_pending() {
  if (!pending_.started())
    co_return true;
  const int32_t done = co_await pending_.finish();
  const uint64_t expected = submitted_ - written_;
  int rc = done > 0 ? 0 : (done == 0 ? -EIO : done);
  if (done > 0 && static_cast<uint64_t>(done) < expected) {
    // Short write (a nearly full disk writes what fits, then fails on the rest).
    const auto first = static_cast<size_t>(done);
    rc = co_await write_fully(
        std::span<const char>(submitted_buffer() + first, static_cast<size_t>(expected) - first),
        written_ + first);
  }
  if (rc < 0) {
    failure_errno_ = rc;
    co_return false;
  }
  written_ = submitted_;
  co_return true;
}

core::Task<bool> StagedFileWriter::flush_staged() {
  bool finished = co_await finish_pending();
  if (!finished)
    co_return false;
  if (staged_ == 0)
    co_return true;
  pending_.start_write(fd_, std::span<const char>(buffers_[filling_].get(), staged_), submitted_);
  submitted_ += staged_;
  staged_ = 0;
  filling_ ^= 1;
  co_return true;
}

} // namespace regcache::registry

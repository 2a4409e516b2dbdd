#pragma once
// Double buffering for a download's file: while the kernel writes one buffer, the next chunk is
// received into the other, so receiving, hashing and writing overlap. A download receives
// straight into the stage (room() then commit()), so a body byte is copied by the kernel into
// the stage and from there into the file, and never by us. A failed write
// (a full disk) loses nothing received: the bytes the file has not confirmed are still in the
// buffers, and retarget() writes them to another file and carries on there.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "core/io_ops.h"
#include "core/task.h"

namespace regcache::registry {

class StagedFileWriter {
public:
  static constexpr size_t kStageBytes = 1024 * 1024; // per write; two such buffers per writer

  explicit StagedFileWriter(int fd);
  ~StagedFileWriter();
  StagedFileWriter(const StagedFileWriter &) = delete;
  StagedFileWriter &operator=(const StagedFileWriter &) = delete;

  uint64_t written() const { return written_; }              // bytes the file holds (confirmed)
  uint64_t received() const { return submitted_ + staged_; } // bytes committed or appended
  bool has_unwritten() const { return received() > written_; }
  // -errno of the write that failed (-EIO for one that made no progress), 0 while none has.
  int failure_errno() const { return failure_errno_; }
  bool failed() const { return failure_errno_ != 0; }

  // The free part of the stage being filled, for a caller that receives into it directly; a
  // full stage goes to the kernel first. Never empty, unless that write failed (failed() says
  // so; the staged bytes are kept, and room() after retarget() goes on). Valid until the next
  // call of anything but commit().
  core::Task<std::span<char>> room();
  // Counts the first `bytes` of the last room() as received.
  void commit(size_t bytes);
  // Copies `piece` into the stage (room() and commit()). Returns how many bytes of `piece` it
  // took: all, unless a write failed (failed() says so; the rest is appended again after
  // retarget()).
  core::Task<size_t> append(std::span<const char> piece);
  // Hands the staged bytes to the kernel now and waits for every write, so that written() ==
  // received(). False when a write failed.
  core::Task<bool> flush();
  // Waits for the write in flight, whose buffer the kernel still reads (before giving up).
  core::Task<void> abandon();
  // After a failed write: writes the bytes the old file did not confirm to `fd`, at the same
  // offsets, and goes on writing there (the old fd stays the caller's). False when that fails.
  core::Task<bool> retarget(int fd);
  // The buffer no write uses: valid only while nothing is in flight (after flush() or
  // retarget()), until the next room() or append(). A caller copying a file range borrows it.
  std::span<char> spare_buffer();

private:
  // Writes all of `bytes` at `offset`, continuing short writes; 0 or -errno.
  core::Task<int> write_fully(std::span<const char> bytes, uint64_t offset);
  // Waits for the write in flight; a short write is completed through the ring.
  core::Task<bool> finish_pending();
  core::Task<bool> flush_staged();
  const char *submitted_buffer() const { return buffers_[filling_ ^ 1].get(); }

  int fd_;
  std::array<std::unique_ptr<char[]>, 2> buffers_;
  size_t filling_ = 0;     // the buffer being filled
  size_t staged_ = 0;      // bytes in it
  uint64_t written_ = 0;   // bytes the file holds (confirmed writes)
  uint64_t submitted_ = 0; // bytes handed to the kernel; [written_, submitted_) are in the other
                           // buffer from its start until confirmed
  core::PendingOp pending_;
  int failure_errno_ = 0;
};

} // namespace regcache::registry

#include "registry/cache/scrubber.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstdlib>

#include "core/log_style.h"
#include "registry/api/byte_size.h"
#include "registry/cache/blob_store.h"
#include "registry/cache/index_snapshot.h"

namespace regcache::registry {
namespace {

constexpr size_t kChunkBytes = size_t{1} << 20;
constexpr size_t kDirectIoAlignment = 4096; // the largest logical block size in use
static_assert(kChunkBytes % kDirectIoAlignment == 0);
constexpr uint64_t kAutoPassSeconds = 7 * 24 * 3600;
constexpr uint64_t kAutoRateMinBytesPerS = uint64_t{64} << 10;
constexpr int64_t kEmptyCacheWaitMs = 1000; // nothing indexed: look again soon (it costs a lookup)
constexpr int64_t kPassLogIntervalS = 3600; // a pass summary at most this often
// From linux/ioprio.h (not in every libc's headers).
constexpr int kIoprioWhoProcess = 1;
constexpr int kIoprioClassIdle = 3;
constexpr int kIoprioClassShift = 13;

int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

} // namespace

uint64_t scrub_bytes_per_s(const ScrubRate &rate, uint64_t content_bytes) {
  switch (rate.mode) {
  case ScrubRate::Mode::Fixed:
    return rate.bytes_per_s;
  case ScrubRate::Mode::Off:
    return 0;
  case ScrubRate::Mode::Auto:
    return std::max(content_bytes / kAutoPassSeconds, kAutoRateMinBytesPerS);
  }
  return kAutoRateMinBytesPerS;
}

Scrubber::Scrubber(BlobStore &store, ScrubRate rate)
    : store_(store), index_(store.index()), rate_(rate) {}

Scrubber::~Scrubber() {
  stop();
}

void Scrubber::start() {
  assert(!thread_.joinable());
  if (rate_.mode == ScrubRate::Mode::Off) {
    core::log_message("scrub: off (--scrub-rate off); hits still check sizes");
    return;
  }
  buffer_ = {static_cast<char *>(std::aligned_alloc(kDirectIoAlignment, kChunkBytes)), &std::free};
  if (!buffer_) {
    core::log_message("scrub: no memory for its buffer; not scrubbing");
    return;
  }
  core::log_message(fmt::format("scrub: {}, at idle priority",
                                rate_.mode == ScrubRate::Mode::Auto
                                    ? std::string("a full pass per week (at least 64 KiB/s)")
                                    : format_byte_size(rate_.bytes_per_s) + "/s"));
  thread_ = std::thread([this] { run(); });
}

void Scrubber::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

bool Scrubber::sleep_ms(int64_t ms) {
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stopping_; });
  return !stopping_;
}

bool Scrubber::pace(uint64_t bytes) {
  const uint64_t rate = std::max<uint64_t>(1, scrub_bytes_per_s(rate_, index_.content_bytes()));
  const int64_t now_ns = steady_now_ns();
  // Time not spent reading (an empty cache, a short pass) earns no burst later.
  next_read_ns_ = std::max(next_read_ns_, now_ns);
  const int64_t wait_ms = (next_read_ns_ - now_ns) / 1'000'000;
  if (wait_ms > 0 && !sleep_ms(wait_ms))
    return false;
  next_read_ns_ +=
      static_cast<int64_t>(static_cast<double>(bytes) * 1e9 / static_cast<double>(rate));
  std::lock_guard lock(mutex_);
  return !stopping_;
}

void Scrubber::run() {
  // This thread alone (Linux applies both per thread): the lowest CPU priority, and the idle
  // I/O class, which reads only when no one else uses the disk.
  const pid_t tid = static_cast<pid_t>(::syscall(SYS_gettid));
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(tid), 19);
  ::syscall(SYS_ioprio_set, kIoprioWhoProcess, tid, kIoprioClassIdle << kIoprioClassShift);
  int64_t last_log_s = 0;
  for (;;) { // until stop(); each turn is one pass, or one wait for an empty cache
    {
      std::lock_guard lock(mutex_);
      if (stopping_)
        return;
    }
    const int64_t started_ns = steady_now_ns();
    index_.collect(entries_);
    std::erase_if(entries_,
                  [](const IndexEntryView &entry) { return entry.state != BlobState::Present; });
    if (entries_.empty()) {
      if (!sleep_ms(kEmptyCacheWaitMs))
        return;
      continue;
    }
    std::sort(entries_.begin(), entries_.end(),
              [](const IndexEntryView &a, const IndexEntryView &b) {
                return digest_less(a.digest, b.digest);
              });
    // Resume after the last file verified (saved with the index across restarts).
    const Digest cursor = index_.scrub_cursor();
    auto first = std::upper_bound(entries_.begin(), entries_.end(), cursor,
                                  [](const Digest &digest, const IndexEntryView &entry) {
                                    return digest_less(digest, entry.digest);
                                  });
    uint64_t files = 0;
    uint64_t bytes = 0;
    uint64_t rotten = 0;
    for (auto it = first; it != entries_.end(); ++it) { // bounded by the entries collected
      IndexEntryView entry;
      if (!index_.lookup(it->digest, entry) || entry.state != BlobState::Present)
        continue; // evicted or rotten since the pass began
      uint64_t file_size_bytes = entry.size_bytes;
      RotCause cause = RotCause::DigestOnScrub;
      const Outcome outcome = verify(entry, &file_size_bytes, &cause);
      if (outcome == Outcome::Stopped)
        return;
      if (outcome == Outcome::Rotten &&
          index_.mark_rotten(entry.digest, entry.generation, cause, file_size_bytes)) {
        // Unlinked by the finder, at once: see BlobStore::open_published.
        const StorePath path = BlobStore::blob_path(entry.digest);
        ::unlinkat(store_.root_fd(), path.c_str(), 0);
        ++rotten;
      }
      if (outcome != Outcome::Gone) {
        ++files;
        bytes += entry.size_bytes;
      }
      index_.set_scrub_cursor(entry.digest);
    }
    index_.set_scrub_cursor(Digest{});
    const int64_t now_s = steady_now_ns() / 1'000'000'000;
    if (rotten > 0 || now_s - last_log_s >= kPassLogIntervalS) {
      core::log_message(fmt::format(
          "scrub: verified {} files ({}) in {} s, {} rotten{}", files, format_byte_size(bytes),
          (steady_now_ns() - started_ns) / 1'000'000'000, rotten,
          first == entries_.begin() ? "" : " (the rest of a pass begun earlier)"));
      last_log_s = now_s;
    }
  }
}

Scrubber::Outcome Scrubber::verify(const IndexEntryView &entry, uint64_t *file_size_bytes,
                                   RotCause *cause) {
  const StorePath path = BlobStore::blob_path(entry.digest);
  hasher_.reset();
  uint64_t offset = 0;
  ino_t inode = 0;
  const uint64_t chunks_max = entry.size_bytes / kChunkBytes + 3; // a retry without O_DIRECT
  for (uint64_t chunk = 0; chunk < chunks_max; ++chunk) {
    if (!pace(std::min<uint64_t>(kChunkBytes, std::max<uint64_t>(entry.size_bytes - offset, 1))))
      return Outcome::Stopped;
    const int flags = O_RDONLY | O_CLOEXEC | (direct_io_ ? O_DIRECT : 0);
    int fd = ::openat(store_.root_fd(), path.c_str(), flags);
    if (fd < 0 && errno == EINVAL && direct_io_) {
      direct_io_ = false; // this file system has no O_DIRECT (tmpfs before Linux 6.6)
      fd = ::openat(store_.root_fd(), path.c_str(), O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0)
      return Outcome::Gone; // evicted (or removed by hand) meanwhile
    struct stat stat {};
    if (::fstat(fd, &stat) != 0) {
      ::close(fd);
      return Outcome::Gone;
    }
    if (chunk == 0) {
      inode = stat.st_ino;
      *file_size_bytes = static_cast<uint64_t>(stat.st_size);
      if (*file_size_bytes != entry.size_bytes) {
        ::close(fd);
        *cause = RotCause::SizeOnScrub;
        return Outcome::Rotten;
      }
    } else if (stat.st_ino != inode) {
      ::close(fd);
      return Outcome::Gone; // published again: the next pass checks the new file
    }
    if (offset >= entry.size_bytes) {
      ::close(fd);
      break;
    }
    ssize_t got = ::pread(fd, buffer_.get(), kChunkBytes, static_cast<off_t>(offset));
    const int read_errno = errno;
    ::close(fd);
    if (got < 0 && read_errno == EINVAL && direct_io_) {
      direct_io_ = false; // O_DIRECT opened but cannot read here: read through the page cache
      continue;
    }
    if (got < 0) {
      if (read_errno != EIO)
        return Outcome::Gone; // not the file's fault; the next pass tries again
      // The medium cannot give the bytes back: as rotten as a flipped bit.
      *cause = RotCause::DigestOnScrub;
      return Outcome::Rotten;
    }
    if (got == 0) {
      *file_size_bytes = offset; // shorter than its stat said a moment ago
      *cause = RotCause::SizeOnScrub;
      return Outcome::Rotten;
    }
    hasher_.update(std::span<const char>(buffer_.get(), static_cast<size_t>(got)));
    offset += static_cast<uint64_t>(got);
  }
  if (offset != entry.size_bytes)
    return Outcome::Gone; // did not get through (bounded loop); the next pass tries again
  if (hasher_.finish() != entry.digest) {
    *cause = RotCause::DigestOnScrub;
    return Outcome::Rotten;
  }
  return Outcome::Intact;
}

} // namespace regcache::registry

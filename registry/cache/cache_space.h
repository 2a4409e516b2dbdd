#pragma once
// Whether downloads can be written to the cache's file system, shared by every worker's
// fetches. A download that cannot be cached passes through to its clients uncached (see
// cache/blob_fetch.h); this records why, so that the log says so once per condition rather than
// once per blob, and tells the evictor that space is short.
//
// The interface for the evictor, set once at start-up before the workers run:
//   set_eviction_kick(kick): kick() is called, on whichever worker thread the download runs,
//     each time a download finds the disk short (a write failed with ENOSPC or EDQUOT, or a blob
//     of known length larger than the free space). While the disk stays full that is once per
//     download, so it must be cheap, must not block and must not throw: set a flag, wake the
//     evictor's thread. No kick is set by default.
//   set_limits(blob_bytes_max, free_bytes_min): a blob of known length larger than
//     blob_bytes_max (the cache's own limit: such a blob could never stay; 0: no limit), or than
//     the free space less free_bytes_min, passes through from its first byte. Both may change
//     at any time.
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

namespace regcache::registry {

enum class SpaceCondition : uint8_t {
  DiskFull,        // a write failed with ENOSPC
  QuotaExceeded,   // a write failed with EDQUOT
  WriteFailed,     // a write failed otherwise (EIO, ...), or the temp file could not be made
  LargerThanFree,  // a Content-Length above the free space (less free_bytes_min)
  LargerThanCache, // a Content-Length above blob_bytes_max
};

class CacheSpace {
public:
  CacheSpace() = default;
  CacheSpace(const CacheSpace &) = delete;
  CacheSpace &operator=(const CacheSpace &) = delete;

  void set_eviction_kick(std::function<void()> kick) { kick_ = std::move(kick); }
  void set_limits(uint64_t blob_bytes_max, uint64_t free_bytes_min) {
    blob_bytes_max_.store(blob_bytes_max, std::memory_order_relaxed);
    free_bytes_min_.store(free_bytes_min, std::memory_order_relaxed);
  }

  // Why a blob of `blob_bytes` cannot be cached, judged before its first byte from the free
  // space of the file system holding `dir_fd` (fstatvfs: a metadata read that does not block on
  // I/O, so it runs outside the ring); nullopt when it may fit. `*free_bytes` gets the space
  // measured (for the log line).
  std::optional<SpaceCondition> check_fits(int dir_fd, uint64_t blob_bytes,
                                           uint64_t *free_bytes) const;
  // The rule of check_fits, given the free space.
  static std::optional<SpaceCondition> fits(uint64_t blob_bytes, uint64_t free_bytes,
                                            uint64_t blob_bytes_max, uint64_t free_bytes_min);
  // The condition a failed write or create (-errno) puts the cache in.
  static SpaceCondition condition_of_write_error(int negative_errno);
  static std::string_view name(SpaceCondition condition);

  // A download met `condition`: kicks the evictor when the disk is short. True when the
  // condition is new (not reported since the conditions last cleared): the caller logs it.
  bool report(SpaceCondition condition);
  // A download was published: the file system took a whole blob, so the conditions are over.
  // True when any was in force (the caller logs that caching works again).
  bool report_published();
  bool in_force(SpaceCondition condition) const;

private:
  static uint32_t bit(SpaceCondition condition) {
    return uint32_t{1} << static_cast<uint32_t>(condition);
  }

  std::function<void()> kick_; // set before the workers start, then only read
  std::atomic<uint64_t> blob_bytes_max_{0};
  std::atomic<uint64_t> free_bytes_min_{0};
  std::atomic<uint32_t> conditions_{0}; // bits of the conditions reported since the last clear
};

} // namespace regcache::registry

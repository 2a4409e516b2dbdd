#include "registry/cache/cache_space.h"

#include <sys/statvfs.h>

#include <cerrno>

namespace regcache::registry {

std::optional<SpaceCondition> CacheSpace::check_fits(int dir_fd, uint64_t blob_bytes,
                                                     uint64_t *free_bytes) const {
  struct statvfs info {};
  if (::fstatvfs(dir_fd, &info) != 0) {
    // Unknown: try to cache it, and let a failed write decide.
    *free_bytes = UINT64_MAX;
    return std::nullopt;
  }
  // f_bavail, not f_bfree: the blocks reserved for root are not ours to fill.
  *free_bytes = static_cast<uint64_t>(info.f_bavail) * info.f_frsize;
  return fits(blob_bytes, *free_bytes, blob_bytes_max_.load(std::memory_order_relaxed),
              free_bytes_min_.load(std::memory_order_relaxed));
}

std::optional<SpaceCondition> CacheSpace::fits(uint64_t blob_bytes, uint64_t free_bytes,
                                               uint64_t blob_bytes_max, uint64_t free_bytes_min) {
  if (blob_bytes_max > 0 && blob_bytes > blob_bytes_max)
    return SpaceCondition::LargerThanCache;
  const uint64_t usable = free_bytes > free_bytes_min ? free_bytes - free_bytes_min : 0;
  if (blob_bytes > usable)
    return SpaceCondition::LargerThanFree;
  return std::nullopt;
}

SpaceCondition CacheSpace::condition_of_write_error(int negative_errno) {
  switch (negative_errno) {
  case -ENOSPC:
    return SpaceCondition::DiskFull;
  case -EDQUOT:
    return SpaceCondition::QuotaExceeded;
  default:
    return SpaceCondition::WriteFailed;
  }
}

std::string_view CacheSpace::name(SpaceCondition condition) {
  switch (condition) {
  case SpaceCondition::DiskFull:
    return "the cache disk is full";
  case SpaceCondition::QuotaExceeded:
    return "the cache's disk quota is exceeded";
  case SpaceCondition::WriteFailed:
    return "the cache file cannot be written";
  case SpaceCondition::LargerThanFree:
    return "a blob is larger than the cache disk's free space";
  case SpaceCondition::LargerThanCache:
    return "a blob is larger than the cache's size limit";
  }
  return "?";
}

bool CacheSpace::report(SpaceCondition condition) {
  const bool short_of_space = condition == SpaceCondition::DiskFull ||
                              condition == SpaceCondition::QuotaExceeded ||
                              condition == SpaceCondition::LargerThanFree;
  if (short_of_space && kick_)
    kick_();
  const uint32_t before = conditions_.fetch_or(bit(condition), std::memory_order_relaxed);
  return (before & bit(condition)) == 0;
}

bool CacheSpace::report_published() {
  // A load first: publishing is the common case, and it should not write a shared cache line.
  if (conditions_.load(std::memory_order_relaxed) == 0)
    return false;
  return conditions_.exchange(0, std::memory_order_relaxed) != 0;
}

bool CacheSpace::in_force(SpaceCondition condition) const {
  return (conditions_.load(std::memory_order_relaxed) & bit(condition)) != 0;
}

} // namespace regcache::registry

#include "registry/cache/eviction_policy.h"

#include <algorithm>

#include "registry/cache/index_snapshot.h"

namespace regcache::registry {
namespace {

uint64_t percent_of(uint64_t bytes, uint64_t percent) {
  // Divide first when the product could overflow (limits above 2^57 bytes).
  return bytes > (uint64_t{1} << 57) ? bytes / 100 * percent : bytes * percent / 100;
}

} // namespace

EvictionLevels eviction_levels(const DiskState &disk, uint64_t cache_max_bytes,
                               const SpaceFloor &min_free) {
  EvictionLevels levels;
  const uint64_t floor_bytes = min_free.bytes_of(disk.fs_total_bytes);
  // The cache may grow by what is free above the floor (or must shrink by what is missing).
  const uint64_t reachable = disk.cache_disk_bytes + disk.fs_available_bytes;
  const uint64_t free_space_limit = reachable > floor_bytes ? reachable - floor_bytes : 0;
  levels.free_space_bound = free_space_limit < cache_max_bytes;
  levels.limit_bytes = std::min(cache_max_bytes, free_space_limit);
  levels.high_bytes = percent_of(levels.limit_bytes, kHighWatermarkPercent);
  levels.low_bytes = percent_of(levels.limit_bytes, kLowWatermarkPercent);
  return levels;
}

uint64_t bytes_to_evict(const EvictionLevels &levels, uint64_t cache_disk_bytes) {
  if (cache_disk_bytes <= levels.high_bytes)
    return 0;
  return cache_disk_bytes - levels.low_bytes;
}

void order_for_eviction(std::vector<IndexEntryView> &entries) {
  std::erase_if(entries,
                [](const IndexEntryView &entry) { return entry.state != BlobState::Present; });
  std::sort(entries.begin(), entries.end(), [](const IndexEntryView &a, const IndexEntryView &b) {
    if (a.priority != b.priority)
      return a.priority < b.priority;
    if (a.last_use_unix_s != b.last_use_unix_s)
      return a.last_use_unix_s < b.last_use_unix_s;
    if (a.size_bytes != b.size_bytes)
      return a.size_bytes > b.size_bytes;
    return digest_less(a.digest, b.digest);
  });
}

} // namespace regcache::registry

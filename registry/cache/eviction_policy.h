#pragma once
// When to evict and what: pure functions of the disk's state and the index's entries
// (unit-tested), used by the evictor's thread.
//
// The cache's limit is the tighter of --cache-max-size and what keeps --min-free free on its
// file system (the cache's own bytes plus the free bytes, minus the floor). Eviction starts
// when the cache passes 95% of that limit and removes the least valuable blobs until it is at
// 90%: started before the limit, so a burst of downloads lands in the gap, and stopped well
// below it, so one publish does not start another round.
//
// Value is GDSF's (Greedy Dual Size Frequency) with the cost of a miss taken as the blob's
// size, the bytes it costs to fetch again: priority = clock + hits, set at each use, where the
// clock is the priority of the last blob evicted. Blobs with few hits go first, and the clock
// makes old popularity age out. Among equal priorities the least recently used goes first, so a
// cache whose hits were never counted (rebuilt from the directory) evicts as LRU does.
// bench/eviction_trace.py measured it against LRU (README, "Why GDSF").
#include <cstdint>
#include <span>
#include <vector>

#include "registry/api/byte_size.h"
#include "registry/cache/blob_index.h"

namespace regcache::registry {

struct DiskState {
  uint64_t cache_disk_bytes = 0;   // the index's count (whole blocks)
  uint64_t fs_total_bytes = 0;     // statvfs f_blocks * f_frsize
  uint64_t fs_available_bytes = 0; // statvfs f_bavail * f_frsize (what regcache may still use)
};

struct EvictionLevels {
  uint64_t limit_bytes = 0;
  uint64_t high_bytes = 0;       // evict when the cache is above this
  uint64_t low_bytes = 0;        // down to this
  bool free_space_bound = false; // the --min-free floor, not --cache-max-size, sets the limit
};

inline constexpr uint64_t kHighWatermarkPercent = 95;
inline constexpr uint64_t kLowWatermarkPercent = 90;
static_assert(kLowWatermarkPercent < kHighWatermarkPercent && kHighWatermarkPercent <= 100);

EvictionLevels eviction_levels(const DiskState &disk, uint64_t cache_max_bytes,
                               const SpaceFloor &min_free);
// What a round should free: nothing at or below the high watermark, else down to the low one.
uint64_t bytes_to_evict(const EvictionLevels &levels, uint64_t cache_disk_bytes);

// Lowest priority first, then least recently used; among blobs last used in the same second
// the larger first (fewer removals for the same bytes), then by digest so the order is total.
// Entries that are not Present are dropped: they are the evictor's or the scrub's already.
void order_for_eviction(std::vector<IndexEntryView> &entries);

} // namespace regcache::registry

#pragma once
// The size and last use of every published blob (and manifest by digest), in memory, shared by
// every worker, the evictor and the scrubber. The files under blobs/ are the truth; this is
// what regcache knows about them without a stat, so that eviction can pick the least recently
// used without walking the directory, and a hit can see a file that changed size (rot).
//
// Locking: 64 shards by digest, each a mutex and a hash map. A hit takes one shard's lock for
// a lookup and a store of its use (last use, hits, priority; no allocation, and no write to a
// line another shard shares: the counter of changes is per shard). A map node is allocated only
// when a blob is published. Nothing holds a shard's lock across I/O or another lock, so there is no
// lock order to get wrong.
//
// Entry states: Present (served), Evicting (the evictor is removing it: hits see a miss),
// Rotten (its file failed a check and was unlinked: hits see a miss until it is published
// again). Each publish of a digest bumps the entry's generation, so a check of an old file
// never condemns the new one.
#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <span>
#include <unordered_map>
#include <vector>

#include "registry/api/digest.h"
#include "registry/cache/index_snapshot.h"

namespace regcache::registry {

enum class BlobState : uint8_t { Present, Evicting, Rotten };

struct IndexEntryView {
  Digest digest{};
  uint64_t size_bytes = 0;
  int64_t last_use_unix_s = 0;
  uint64_t hits = 1;
  uint64_t priority = 1; // GDSF (cache/eviction_policy.h)
  uint32_t generation = 0;
  BlobState state = BlobState::Present;
};

enum class RotCause : uint8_t {
  SizeOnHit,     // a hit found the file's size differs from the index's
  SizeOnScrub,   // the scrub found the same
  DigestOnScrub, // the scrub found the bytes do not hash to the name
  DigestOnHit,   // a manifest read into memory on a hit does not hash to its name
};

struct RotReport {
  Digest digest{};
  uint32_t generation = 0; // of the entry found rotten
  RotCause cause = RotCause::SizeOnHit;
  uint64_t index_size_bytes = 0;
  uint64_t file_size_bytes = 0;
};

// Told (from any thread, with no lock held) that the index has work for the evictor: the
// content grew past the level set with set_kick_above, or a file rotted.
class IndexListener {
public:
  virtual void on_index_work() noexcept = 0;

protected:
  ~IndexListener() = default;
};

class BlobIndex {
public:
  BlobIndex() = default;
  BlobIndex(const BlobIndex &) = delete;
  BlobIndex &operator=(const BlobIndex &) = delete;

  // Start-up only, before any other thread uses the index. Disk use is counted in whole
  // blocks of the file system (what du shows), `block_bytes` each.
  void reset(uint64_t block_bytes, std::span<const IndexRecord> records, uint64_t eviction_clock);
  void set_listener(IndexListener *listener) { listener_.store(listener); }

  enum class HitVerdict : uint8_t {
    Serve,    // the file is the indexed one: its use was recorded
    Unknown,  // not indexed (a file placed by hand): the caller may adopt it
    Withheld, // being evicted or rotten: a miss
    Rotten,   // the size differs from the index's: now Rotten, and the caller unlinks the file
  };
  // The hot path: a hit on an open file of `file_size_bytes`. A size mismatch marks the entry
  // Rotten and reports it.
  HitVerdict check_hit(const Digest &digest, uint64_t file_size_bytes, int64_t now_unix_s);
  // A Present entry whose file is gone (removed by hand): forgotten.
  void forget_missing(const Digest &digest);

  // A file was published (renamed into blobs/) or adopted: Present with this size, used now.
  void add(const Digest &digest, uint64_t size_bytes, int64_t now_unix_s);
  // Present with exactly this size: what store_manifest needs to skip rewriting a manifest.
  bool holds(const Digest &digest, uint64_t size_bytes) const;
  bool lookup(const Digest &digest, IndexEntryView &out) const;

  uint64_t disk_bytes() const { return disk_bytes_.load(std::memory_order_relaxed); }
  uint64_t content_bytes() const { return content_bytes_.load(std::memory_order_relaxed); }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  uint64_t block_bytes() const { return block_bytes_; }
  uint64_t disk_bytes_of(uint64_t size_bytes) const;
  // Counts every change worth saving (publish, removal, a hit); reads every shard.
  uint64_t change_count() const;
  // GDSF's clock: the priority of the last blob evicted. A use sets an entry's priority to the
  // clock plus its hits, so what was popular long ago ages out.
  uint64_t eviction_clock() const { return clock_.load(std::memory_order_relaxed); }
  void advance_eviction_clock(uint64_t priority);

  // The evictor's side. collect copies every entry (any order).
  void collect(std::vector<IndexEntryView> &out) const;
  // Present and unused since `seen` was collected -> Evicting.
  bool begin_eviction(const IndexEntryView &seen);
  // An operator's purge (cache_purge.h): Present -> Evicting whatever its use, so no new hit
  // opens it; `*out` gets the entry (its generation for finish_removal). False when it is not
  // Present (absent, or the evictor or the scrubber is removing it already).
  bool begin_purge(const Digest &digest, IndexEntryView *out);
  // Evicting -> Present: the file turned out to be open.
  void cancel_eviction(const Digest &digest, uint32_t generation);
  // Removes an Evicting or Rotten entry of this generation (its file is gone).
  void finish_removal(const Digest &digest, uint32_t generation);
  // Where add() starts telling the listener (the evictor's high watermark).
  void set_kick_above(uint64_t disk_bytes) {
    kick_above_bytes_.store(disk_bytes, std::memory_order_relaxed);
  }
  // Moves up to out.size() reports out; `*dropped` counts those that did not fit the queue.
  size_t take_rot_reports(std::span<RotReport> out, uint64_t *dropped);

  // The scrubber's side: Present of `generation` -> Rotten (the caller unlinks the file).
  bool mark_rotten(const Digest &digest, uint32_t generation, RotCause cause,
                   uint64_t file_size_bytes);
  void set_scrub_cursor(const Digest &digest);
  Digest scrub_cursor() const;

  // Every entry as a record, ascending by digest, and the scrub cursor (the saved file).
  IndexSnapshot snapshot() const;

private:
  struct Entry {
    uint64_t size_bytes = 0;
    int64_t last_use_unix_s = 0;
    uint64_t hits = 1;
    uint64_t priority = 1;
    uint32_t generation = 0;
    BlobState state = BlobState::Present;
  };
  static constexpr size_t kShards = 64;
  struct alignas(64) Shard {
    mutable std::mutex mutex;
    std::unordered_map<Digest, Entry, DigestHash> entries;
    uint64_t hits_since_reset = 0; // under mutex: hits change what blob-index would say
  };
  static IndexEntryView view_of(const Digest &digest, const Entry &entry) {
    return IndexEntryView{digest,     entry.size_bytes, entry.last_use_unix_s,
                          entry.hits, entry.priority,   entry.generation,
                          entry.state};
  }
  static constexpr size_t kRotQueueMax = 64;

  // DigestHash uses the first bytes; the shard comes from the last, so a shard's map still
  // spreads over its buckets.
  Shard &shard_of(const Digest &digest) { return shards_[digest.bytes.back() % kShards]; }
  const Shard &shard_of(const Digest &digest) const {
    return shards_[digest.bytes.back() % kShards];
  }
  void account_added(uint64_t size_bytes);
  void account_removed(uint64_t size_bytes);
  void report_rot(const RotReport &report);
  void kick() noexcept;

  std::array<Shard, kShards> shards_;
  uint64_t block_bytes_ = 4096;
  std::atomic<uint64_t> disk_bytes_{0};
  std::atomic<uint64_t> content_bytes_{0};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> changes_{0}; // publishes, removals, scrub cursor moves
  std::atomic<uint64_t> clock_{0};
  std::atomic<uint64_t> kick_above_bytes_{UINT64_MAX};
  std::atomic<IndexListener *> listener_{nullptr};

  mutable std::mutex side_mutex_; // the rot queue and the scrub cursor
  std::array<RotReport, kRotQueueMax> rot_queue_{};
  size_t rot_queued_ = 0;
  uint64_t rot_dropped_ = 0;
  Digest scrub_cursor_{};
};

} // namespace regcache::registry

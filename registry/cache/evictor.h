#pragma once
// The evictor: one background thread that keeps the cache under its limits (eviction_policy.h:
// GDSF, fewest hits and least recently used first),
// removes what the index reports rotten, and saves the index. It is the only remover of files
// under blobs/ besides the one who finds a file rotten, and the index's only writer to disk
// while regcache runs.
//
// It wakes when the index says so (a publish past the high watermark, a rotten file) and at
// least once a second, since other programs sharing the file system change its free space.
// Eviction never removes a blob being read or written:
//   * a digest with a download in the fetch table is skipped;
//   * the chosen entries are first marked Evicting in the index, so no new hit opens them
//     (BlobStore::open_published sees a miss), then /proc/self/fd is read: an entry whose
//     file is open (a hit being sent, a client following a download, the scrub) goes back to
//     Present. A reader that opened the file before the mark holds its fd, so it is in that
//     list; one that opens it after sees the mark.
// Removal order is what keeps a kill -9 harmless: the blob's file first (the published name
// goes in one unlink), then its media type under meta/, then the index entry; its provenance
// mark is left for the next start (remove_files says why). Nothing is written under blobs/,
// so every file that remains is a whole, verified one.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "registry/api/byte_size.h"
#include "registry/cache/blob_index.h"
#include "registry/cache/eviction_policy.h"

namespace regcache::registry {

class BlobStore;
class FetchTable;
class TagIndex;

struct EvictorSettings {
  uint64_t cache_max_bytes = uint64_t{32} << 30;
  SpaceFloor min_free;
  uint32_t check_interval_ms = 1000; // free space changes without telling us
  uint32_t save_interval_s = 300;    // blob-index, when something changed
};

class Evictor final : public IndexListener {
public:
  // `tags_held`: the tag entries in memory, swept with the files (null: none).
  Evictor(BlobStore &store, FetchTable &fetches, EvictorSettings settings,
          TagIndex *tags_held = nullptr);
  ~Evictor();
  Evictor(const Evictor &) = delete;
  Evictor &operator=(const Evictor &) = delete;

  // `save_now`: write blob-index in the first round (the index was just rebuilt, and a crash
  // before the first periodic save would rebuild it again).
  void start(bool save_now);
  // Ends the thread (after the round in progress); idempotent.
  void stop();
  void on_index_work() noexcept override;
  // Since start, for the metrics (read from any thread).
  uint64_t evicted_total() const { return evicted_total_.load(std::memory_order_relaxed); }
  uint64_t evicted_bytes_total() const {
    return evicted_bytes_total_.load(std::memory_order_relaxed);
  }

private:
  struct RoundResult {
    uint64_t evicted = 0;
    uint64_t freed_bytes = 0;
    uint64_t kept_open = 0;     // chosen, but a reader had the file open
    uint64_t kept_fetching = 0; // chosen, but a download of the digest was running
  };

  void run();
  void one_round();
  void handle_rot_reports();
  RoundResult evict(uint64_t bytes_wanted, std::vector<Digest> &evicted_manifests);
  // Unlinks the blob and then its media type; true when it was a manifest (had one).
  bool remove_files(const Digest &digest);
  bool read_disk_state(DiskState &out);
  // What blobs/ and its 256 directories take themselves (du counts them; they grow with their
  // entries and never shrink), measured at most once a minute.
  uint64_t directory_bytes();
  void save_index_if_changed(bool force);

  BlobStore &store_;
  BlobIndex &index_;
  FetchTable &fetches_;
  TagIndex *const tags_held_;
  const EvictorSettings settings_;
  std::string blobs_prefix_; // as /proc/self/fd shows the files

  std::mutex mutex_;
  std::condition_variable wake_;
  bool work_ = false;
  bool stopping_ = false;
  std::thread thread_;
  std::atomic<uint64_t> evicted_total_{0};
  std::atomic<uint64_t> evicted_bytes_total_{0};

  // Thread-owned (the evictor's thread only).
  std::vector<IndexEntryView> entries_;
  uint64_t saved_changes_ = 0;
  int64_t last_save_s_ = 0;
  uint64_t directory_bytes_ = 0;
  int64_t directory_measured_s_ = 0;
  bool directory_measured_ = false;
  bool stuck_logged_ = false; // "cannot free enough" is said once until it changes
};

} // namespace regcache::registry

#pragma once
// The scrub: one background thread that re-reads every published file, in digest order, and
// checks it still is what its name says (its size is the index's, its bytes hash to its
// digest). A file that is not is marked Rotten in the index and unlinked at once, so the next
// request fetches it again; the evictor logs it.
//
// It runs at low priority: nice 19, the idle I/O class, a rate limit (--scrub-rate; by default
// a full pass per week), reads with O_DIRECT where the file system has it (the scrub checks the
// disk, not the page cache, and does not push hot blobs out of it), and it opens the file anew
// for every 1 MiB it reads, so it never holds a file open long enough to stop its eviction.
// Where it stopped is saved with the index, so restarts do not restart the pass.
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "registry/cache/blob_index.h"
#include "registry/cache/sha256.h"
#include "registry/config/config.h"

namespace regcache::registry {

class BlobStore;

// The rate of a pass: fixed, or the cache's content over a week, at least 64 KiB/s.
uint64_t scrub_bytes_per_s(const ScrubRate &rate, uint64_t content_bytes);

class Scrubber {
public:
  Scrubber(BlobStore &store, ScrubRate rate);
  ~Scrubber();
  Scrubber(const Scrubber &) = delete;
  Scrubber &operator=(const Scrubber &) = delete;

  void start(); // nothing when the rate is off
  void stop();  // idempotent; returns after the chunk being read

private:
  enum class Outcome : uint8_t { Intact, Rotten, Gone, Stopped };

  void run();
  void one_pass();
  Outcome verify(const IndexEntryView &entry, uint64_t *file_size_bytes, RotCause *cause);
  // Sleeps until `bytes` more may be read at the rate; false when stopping.
  bool pace(uint64_t bytes);
  bool sleep_ms(int64_t ms);

  BlobStore &store_;
  BlobIndex &index_;
  const ScrubRate rate_;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;

  // Thread-owned.
  std::unique_ptr<char, void (*)(void *)> buffer_{nullptr, nullptr}; // aligned for O_DIRECT
  bool direct_io_ = true;
  Sha256 hasher_;
  std::vector<IndexEntryView> entries_;
  int64_t next_read_ns_ = 0; // steady clock: when the next chunk may be read
};

} // namespace regcache::registry

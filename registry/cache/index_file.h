#pragma once
// The blob index on disk: <cache-dir>/blob-index (cache/index_snapshot.h), read at start-up and
// checked against the directory, and written from the evictor's thread and at exit. Blocking
// calls: start-up and background threads only, never a worker.
#include <cstdint>
#include <string>
#include <string_view>

#include "registry/cache/blob_index.h"

namespace regcache::registry {

inline constexpr char kIndexFileName[] = "blob-index"; // relative to the cache root

struct IndexLoadReport {
  bool rebuilt = false;    // false: from blob-index
  std::string why_rebuilt; // "no blob-index file", or what was wrong with it
  uint64_t blobs = 0;
  uint64_t content_bytes = 0;
  uint64_t added = 0;           // files the saved index did not list (published after it was saved)
  uint64_t gone = 0;            // listed entries whose file is gone (removed after it was saved)
  uint64_t orphans_removed = 0; // meta/ files (media types, provenance marks) without a blob
  uint64_t elapsed_ms = 0;
};

// "12 files, 3.1 GiB, loaded from blob-index in 5 ms (...)", for the start-up log.
std::string describe_index_load(const IndexLoadReport &report);

// Fills `index` from blob-index and a listing of blobs/sha256/ (names only; only files the
// saved index lacks are stat'ed). Without a usable blob-index every file is stat'ed and its
// last use taken from its atime or mtime, whichever is later. Then meta/ files whose blob is
// gone are removed: the evictor leaves provenance marks behind (a fetch may be publishing the
// digest again while it evicts), and at start no fetch runs, so nothing can be republishing.
// False only when blobs/ cannot be read.
bool load_blob_index(int root_fd, BlobIndex &index, IndexLoadReport &report, std::string *error);

// Writes the index to `temp_path` (under tmp/, relative to the root), fsyncs it and renames it
// over blob-index, so a crash leaves the old file or the new one, never half of one.
bool save_blob_index(int root_fd, const BlobIndex &index, const char *temp_path,
                     std::string *error);

} // namespace regcache::registry

#pragma once
// Tag entries naming manifests that were evicted are removed with them: an entry whose manifest
// is gone answers neither a GET (it must be fetched again) nor an upstream outage (nothing
// stale to serve), so it only holds disk and directory space. Runs on the evictor's thread
// with blocking calls, after a round that evicted manifests.
//
// A worker saving the same tag at the same moment may write its version over the sweep's (or
// the other way round); either way the file is a whole, valid one, and an entry left naming an
// evicted manifest costs one upstream request when a client asks for it.
#include <cstdint>
#include <span>
#include <vector>

#include "registry/api/digest.h"
#include "registry/cache/tag_store.h"

namespace regcache::registry {

class BlobStore;

// Pure: removes the entries whose digest is in `evicted` (ascending); true when any was.
bool drop_entries_naming(std::vector<TagEntry> &entries, std::span<const Digest> evicted);

struct TagSweepReport {
  uint64_t files_seen = 0;
  uint64_t entries_dropped = 0;
  uint64_t files_removed = 0; // every entry of the tag was dropped
};

TagSweepReport sweep_tag_entries(BlobStore &store, std::span<const Digest> evicted);

} // namespace regcache::registry

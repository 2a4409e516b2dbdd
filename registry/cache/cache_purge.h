#pragma once
// Removes what a PurgePlan (cache_graph.h) chose: an operator's purge, run on a helper thread
// (blocking unlinks and the tag-file walk), while the workers go on serving.
//
// Safe with concurrent readers: each digest is first marked Evicting in the blob index (no new
// hit opens it; a request for it is a miss and goes upstream), its copy in manifest memory is
// dropped, and then its file is unlinked. A response already streaming the file holds its fd and
// finishes from it; unlike eviction, purge does not wait for readers (the operator asked for the
// content to go). A digest being downloaded is removed from the index all the same; the download
// publishes it again when it ends, which the report counts.
//
// Crash-safe, in this order: the tag files of the purged tags go first (one unlink each; a tag
// that is gone is a miss by tag, asked upstream), then each digest's file under blobs/ (one
// unlink), then its media type under meta/, then its index entry; last, the tag entries that
// still name a purged manifest are dropped (the tag sweep: whole files renamed into place). A
// kill -9 anywhere leaves only whole, verified files under blobs/; an index entry left naming a
// removed file is forgotten on its next hit (open_published sees ENOENT), and a tag entry left
// naming a removed manifest sends that manifest's request upstream. Nothing is ever served that
// has no file, and no file is served wrong.
#include <cstdint>

#include "registry/cache/cache_graph.h"

namespace regcache::registry {

class BlobStore;
class FetchTable;
class TagIndex;

struct PurgeReport {
  uint64_t tags_removed = 0;        // tag files removed
  uint64_t digests_removed = 0;     // files removed from blobs/
  uint64_t bytes_removed = 0;       // their sizes
  uint64_t tag_entries_dropped = 0; // entries of other tags that named a purged manifest
  uint64_t kept_busy = 0;           // being removed already by the evictor or scrubber
  uint64_t downloads_running = 0;   // purged while a download of it runs (it comes back)
};

PurgeReport execute_purge(BlobStore &store, TagIndex &tags_held, FetchTable &fetches,
                          const CacheGraph &graph, const PurgePlan &plan);

} // namespace regcache::registry

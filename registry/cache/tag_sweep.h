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
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "registry/api/digest.h"
#include "registry/cache/tag_entries.h"

namespace regcache::registry {

class BlobStore;
class TagIndex;

struct TagSweepReport {
  uint64_t files_seen = 0;
  uint64_t entries_dropped = 0;
  uint64_t files_removed = 0; // every entry of the tag was dropped
};

// Calls visit(path relative to the root, its entries) for every readable, well-formed tag file;
// stops when visit returns false. Counts the files seen in `*files_seen`. Blocking.
using TagFileVisitor = std::function<bool(const std::string &path, std::vector<TagEntry> &entries)>;
void walk_tag_files(BlobStore &store, uint64_t *files_seen, const TagFileVisitor &visit);

// Drops the entries naming `evicted` from every tag file, and from `held` (the tags in memory)
// when given.
TagSweepReport sweep_tag_entries(BlobStore &store, std::span<const Digest> evicted,
                                 TagIndex *held = nullptr);

// The key a tag file was written for (the inverse of tag_entries_path); the views point into
// `path` and `upstream`. False for a path tag_entries_path cannot have made.
bool tag_key_of_path(std::string_view path, std::string &upstream, TagKey &out);

// Startup, blocking: holds in `index` the entries of the tag files found, up to its bound.
// Returns how many tags it holds.
size_t preload_tag_index(BlobStore &store, TagIndex &index);

} // namespace regcache::registry

#pragma once
// Reads what the cache holds into a CacheGraph (cache_graph.h): the tag files' entries as roots,
// the stored manifests they reach (read from blobs/ and parsed), and the blob index's Present
// entries. Blocking (a directory walk and file reads): run it on a helper thread, never on a
// worker. What it reads may change while it reads (pulls, eviction): the graph is a snapshot,
// each part consistent, and purge re-checks every entry against the index when it acts.
#include <cstdint>

#include "registry/cache/cache_graph.h"

namespace regcache::registry {

class BlobStore;

// Manifests larger than this are not read (distribution refuses manifests above 4 MiB).
inline constexpr uint64_t kCatalogManifestBytesMax = uint64_t{4} << 20;

CacheGraph read_cache_graph(BlobStore &store);

} // namespace regcache::registry

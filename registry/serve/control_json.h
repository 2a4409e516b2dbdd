#pragma once
// The JSON documents of the control endpoints (control_endpoints.h), which regcachectl reads.
// Pure, unit-tested. Digests as "sha256:<hex>", sizes in bytes, times in unix seconds (the tag
// entries' confirmation in unix milliseconds, as they store it).
#include <cstdint>
#include <string>

#include "registry/cache/cache_graph.h"
#include "registry/cache/cache_purge.h"
#include "registry/serve/request_counters.h"

namespace regcache::registry {

// {"images":[{upstream,name,tag,digest,media_type,confirmed_unix_ms,stored_bytes,stored_count,
// missing_count,last_use_unix_s}...],"untagged":{"count","bytes"},"stored":{"count","bytes"}},
// images ordered by upstream, name, tag.
std::string format_images_json(const CacheGraph &graph);

struct ControlStats {
  RequestTotals requests;
  uint64_t cache_disk_bytes = 0;    // in whole file-system blocks, what eviction counts
  uint64_t cache_content_bytes = 0; // the files' sizes
  uint64_t cache_max_bytes = 0;
  uint64_t cache_entries = 0; // blobs and manifests stored
  uint64_t tags_held = 0;     // tags whose entries are in memory
  uint64_t manifests_held = 0;
  uint64_t downloads_running = 0;
};
// {"hit_ratio":x|null,"cache_lookups","cache_answered","bytes_from_cache","bytes_via_upstream",
// "requests":{"HIT":n,...},"disk_bytes","content_bytes","cache_max_bytes","entries",
// "tags_held","manifests_held","downloads_running"}
std::string format_stats_json(const ControlStats &stats);

// {"selected_tags","digests","bytes","kept_shared","tags_removed","digests_removed",
// "bytes_removed","tag_entries_dropped","kept_busy","downloads_running"}
std::string format_purge_json(const PurgePlan &plan, const PurgeReport &report);

} // namespace regcache::registry

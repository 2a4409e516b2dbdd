#include "registry/cache/cache_purge.h"

#include <unistd.h>

#include <algorithm>
#include <string>
#include <unordered_map>

#include "registry/cache/blob_fetch.h"
#include "registry/cache/blob_store.h"
#include "registry/cache/tag_index.h"
#include "registry/cache/tag_sweep.h"

namespace regcache::registry {
namespace {

// Unlinks the tag files of the roots whose tag has every root in the plan (a tag with other
// roots keeps its file: the sweep drops its entries naming purged manifests).
uint64_t remove_tag_files(BlobStore &store, TagIndex &tags_held, const CacheGraph &graph,
                          const PurgePlan &plan) {
  // "<upstream>\n<name>\n<tag>" (no component holds a newline) -> its roots, its purged roots.
  struct RootCounts {
    size_t all = 0;
    size_t purged = 0;
    size_t first = 0; // a root of the tag, for its key
  };
  std::unordered_map<std::string, RootCounts> tags;
  auto tag_text = [](const CachedTagRoot &root) {
    return root.upstream + '\n' + root.name + '\n' + root.tag;
  };
  for (size_t index = 0; index < graph.roots.size(); ++index) {
    RootCounts &counts = tags[tag_text(graph.roots[index])];
    if (counts.all++ == 0)
      counts.first = index;
  }
  for (size_t index : plan.roots)
    ++tags[tag_text(graph.roots[index])].purged;
  uint64_t removed = 0;
  for (const auto &tag : tags) {
    const RootCounts &counts = tag.second;
    if (counts.purged < counts.all)
      continue;
    const CachedTagRoot &root = graph.roots[counts.first];
    const TagKey key{root.upstream, root.name, root.tag};
    std::string path;
    if (!tag_entries_path(key, path))
      continue;
    // Memory first: a hit between the two must not find there what the file no longer says.
    tags_held.forget(key);
    if (::unlinkat(store.root_fd(), path.c_str(), 0) == 0)
      ++removed;
  }
  return removed;
}

} // namespace

PurgeReport execute_purge(BlobStore &store, TagIndex &tags_held, FetchTable &fetches,
                          const CacheGraph &graph, const PurgePlan &plan) {
  PurgeReport report;
  report.tags_removed = remove_tag_files(store, tags_held, graph, plan);
  std::vector<Digest> manifests;
  for (const Digest &digest : plan.digests) {
    IndexEntryView entry;
    if (!store.index().begin_purge(digest, &entry)) {
      ++report.kept_busy;
      continue;
    }
    if (fetches.join(digest, false) || fetches.join(digest, true))
      ++report.downloads_running;
    store.manifests_in_memory().drop(digest);
    const StorePath blob = BlobStore::blob_path(digest);
    ::unlinkat(store.root_fd(), blob.c_str(), 0); // ENOENT: removed by hand; the entry goes
    const StorePath meta = BlobStore::meta_path(digest);
    // The provenance mark stays, as eviction leaves it (evictor.h says why).
    if (::unlinkat(store.root_fd(), meta.c_str(), 0) == 0)
      manifests.push_back(digest);
    store.index().finish_removal(digest, entry.generation);
    ++report.digests_removed;
    report.bytes_removed += entry.size_bytes;
  }
  if (!manifests.empty()) {
    // plan.digests is ascending, so `manifests` is too, as the sweep needs.
    const TagSweepReport swept = sweep_tag_entries(store, manifests, &tags_held);
    report.tag_entries_dropped = swept.entries_dropped;
  }
  return report;
}

} // namespace regcache::registry

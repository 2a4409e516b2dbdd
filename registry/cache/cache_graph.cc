#include "registry/cache/cache_graph.h"

#include <algorithm>

#include "registry/cache/index_snapshot.h"

namespace regcache::registry {

void add_closure(const CacheGraph &graph, const Digest &root, DigestSet &out) {
  std::vector<Digest> unvisited{root};
  // Each digest enters `out` once, so the loop runs at most once per digest of the graph.
  while (!unvisited.empty()) {
    const Digest digest = unvisited.back();
    unvisited.pop_back();
    if (!out.insert(digest).second)
      continue;
    auto named = graph.references.find(digest);
    if (named == graph.references.end())
      continue;
    for (const Digest &child : named->second) {
      if (!out.contains(child))
        unvisited.push_back(child);
    }
  }
}

ImageUsage image_usage(const CacheGraph &graph, const Digest &root) {
  DigestSet closure;
  add_closure(graph, root, closure);
  ImageUsage usage;
  for (const Digest &digest : closure) {
    auto stored = graph.stored.find(digest);
    if (stored == graph.stored.end()) {
      ++usage.missing_count;
      continue;
    }
    usage.stored_bytes += stored->second.size_bytes;
    ++usage.stored_count;
    usage.last_use_unix_s = std::max(usage.last_use_unix_s, stored->second.last_use_unix_s);
  }
  return usage;
}

namespace {

bool root_selected(const CacheGraph &graph, const CachedTagRoot &root,
                   const PurgeSelection &selection) {
  switch (selection.kind) {
  case PurgeSelection::Kind::Image:
    if (root.upstream != selection.upstream || root.name != selection.name)
      return false;
    return selection.digest ? root.digest == *selection.digest : root.tag == selection.tag;
  case PurgeSelection::Kind::Digest:
    return false; // its tag entries go with the digest (the sweep), not whole tags
  case PurgeSelection::Kind::OlderThan:
    return image_usage(graph, root.digest).last_use_unix_s < selection.cutoff_unix_s;
  }
  return false;
}

} // namespace

PurgePlan plan_purge(const CacheGraph &graph, const PurgeSelection &selection) {
  PurgePlan plan;
  DigestSet candidates;
  DigestSet kept;
  for (size_t index = 0; index < graph.roots.size(); ++index) {
    const CachedTagRoot &root = graph.roots[index];
    if (root_selected(graph, root, selection)) {
      plan.roots.push_back(index);
      add_closure(graph, root.digest, candidates);
    } else if (selection.kind != PurgeSelection::Kind::Digest) {
      add_closure(graph, root.digest, kept);
    }
  }
  switch (selection.kind) {
  case PurgeSelection::Kind::Image:
    if (selection.digest) // an untagged image by digest is still a purgeable image
      add_closure(graph, *selection.digest, candidates);
    break;
  case PurgeSelection::Kind::Digest:
    if (selection.digest)
      candidates.insert(*selection.digest);
    break;
  case PurgeSelection::Kind::OlderThan:
    for (const auto &[digest, content] : graph.stored) {
      if (content.last_use_unix_s < selection.cutoff_unix_s)
        candidates.insert(digest);
    }
    break;
  }
  for (const Digest &digest : candidates) {
    auto stored = graph.stored.find(digest);
    if (stored == graph.stored.end())
      continue;
    if (kept.contains(digest)) {
      ++plan.kept_shared;
      continue;
    }
    plan.digests.push_back(digest);
    plan.bytes += stored->second.size_bytes;
  }
  std::sort(plan.digests.begin(), plan.digests.end(), digest_less);
  return plan;
}

} // namespace regcache::registry

#include "registry/cache/cache_catalog.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "registry/api/manifest_references.h"
#include "registry/cache/blob_store.h"
#include "registry/cache/tag_sweep.h"

namespace regcache::registry {
namespace {

// A stored manifest's bytes; false when it is not one (no media type beside it) or unreadable.
bool read_stored_manifest(BlobStore &store, const Digest &digest, uint64_t size_bytes,
                          std::string &out) {
  if (size_bytes == 0 || size_bytes > kCatalogManifestBytesMax)
    return false;
  const StorePath meta = BlobStore::meta_path(digest);
  if (::faccessat(store.root_fd(), meta.c_str(), F_OK, 0) != 0)
    return false; // a blob, not a manifest
  const StorePath blob = BlobStore::blob_path(digest);
  const int fd = ::openat(store.root_fd(), blob.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  out.resize(size_bytes);
  const ssize_t got = ::pread(fd, out.data(), out.size(), 0);
  ::close(fd);
  return got == static_cast<ssize_t>(size_bytes);
}

} // namespace

CacheGraph read_cache_graph(BlobStore &store) {
  CacheGraph graph;
  std::vector<IndexEntryView> entries;
  store.index().collect(entries);
  for (const IndexEntryView &entry : entries) {
    if (entry.state == BlobState::Present)
      graph.stored[entry.digest] = StoredContent{entry.size_bytes, entry.last_use_unix_s};
  }
  uint64_t files_seen = 0;
  std::string upstream;
  walk_tag_files(store, &files_seen, [&](const std::string &path, std::vector<TagEntry> &tags) {
    TagKey key;
    if (!tag_key_of_path(path, upstream, key))
      return true;
    const size_t first_root = graph.roots.size();
    for (const TagEntry &entry : tags) {
      // Two Accept combinations may have been answered with the same manifest: one root.
      bool seen = false;
      for (size_t index = first_root; index < graph.roots.size(); ++index)
        seen = seen || graph.roots[index].digest == entry.digest;
      if (seen)
        continue;
      graph.roots.push_back(CachedTagRoot{
          std::string(key.upstream), std::string(key.name), std::string(key.tag), entry.digest,
          std::string(entry.media_type.view()), entry.confirmed_unix_ms});
    }
    return true;
  });
  // The manifests the roots reach: an index names manifests, which name blobs. Each stored
  // digest is read at most once, so this ends after at most graph.stored.size() reads.
  std::vector<Digest> unread;
  for (const CachedTagRoot &root : graph.roots)
    unread.push_back(root.digest);
  std::string bytes;
  std::vector<ManifestReference> references;
  while (!unread.empty()) {
    const Digest digest = unread.back();
    unread.pop_back();
    auto stored = graph.stored.find(digest);
    if (stored == graph.stored.end() || graph.references.contains(digest))
      continue;
    std::vector<Digest> &named = graph.references[digest]; // empty for a blob: read once
    references.clear();
    if (!read_stored_manifest(store, digest, stored->second.size_bytes, bytes) ||
        !parse_manifest_references(bytes, references))
      continue;
    for (const ManifestReference &reference : references) {
      named.push_back(reference.digest);
      if (reference.kind == ManifestReference::Kind::Manifest)
        unread.push_back(reference.digest);
    }
  }
  return graph;
}

} // namespace regcache::registry

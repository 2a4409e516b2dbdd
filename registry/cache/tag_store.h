#pragma once
// The last answer the upstream gave for a tag, per (upstream, repository, tag, accepted kind):
// which digest, its media type and size, and when the upstream last confirmed it. The manifest
// bytes themselves live in the blob store by digest. Entries are small files written to tmp/
// and renamed into place, so a reader never sees half an entry and they survive restarts.
#include <cstdint>
#include <string>
#include <string_view>

#include "core/task.h"
#include "registry/api/digest.h"

namespace regcache::registry {

class BlobStore;

struct TagKey {
  std::string_view upstream; // authority, e.g. registry-1.docker.io or 127.0.0.1:5000
  std::string_view name;     // repository name as sent upstream
  std::string_view tag;
  std::string_view accept_key; // from mask_key(): which manifest kinds the client accepts
};

struct TagEntry {
  Digest digest{};
  uint64_t size_bytes = 0;
  int64_t confirmed_unix_ms = 0;
  std::string media_type;
};

// Pure: the entry file's text and back (unit-tested).
std::string format_tag_entry(const TagEntry &entry);
bool parse_tag_entry(std::string_view text, TagEntry &out);
// The path of an entry relative to the cache root; false when a component cannot be a path
// segment (the route grammar already excludes those; this is the second line of defence).
bool tag_entry_path(const TagKey &key, std::string &out);

class TagStore {
public:
  explicit TagStore(BlobStore &store) : store_(store) {}
  core::Task<bool> load(const TagKey &key, TagEntry &out);
  core::Task<bool> save(const TagKey &key, const TagEntry &entry);

private:
  BlobStore &store_;
};

} // namespace regcache::registry

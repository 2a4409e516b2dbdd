#pragma once
// The last answers the upstream gave for a tag, per (upstream, repository, tag): for each Accept
// mask that asked, which digest, its media type and size, and when the upstream last confirmed
// it. The manifest bytes themselves live in the blob store by digest (a HEAD miss records an
// entry before they are there). The entries of a tag are one small file, written to tmp/ and
// renamed into place, so a reader never sees half of it and it survives restarts.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/task.h"
#include "registry/api/digest.h"

namespace regcache::registry {

class BlobStore;

struct TagKey {
  std::string_view upstream; // authority, e.g. registry-1.docker.io or 127.0.0.1:5000
  std::string_view name;     // repository name as sent upstream
  std::string_view tag;
};

struct TagEntry {
  Digest digest{};
  uint64_t size_bytes = 0;
  int64_t confirmed_unix_ms = 0;
  std::string media_type;
  uint8_t accept_mask = 0; // the Accept (registry/api/accept_kind.h) the upstream answered
};

// A tag keeps at most this many answers; a new Accept combination past it replaces the one
// confirmed longest ago. Real clients send a handful of combinations (containerd, dockerd,
// containers/image, distribution's own).
inline constexpr size_t kTagEntriesMax = 8;

// Pure: the file's text and back (unit-tested). Parsing fails on any damaged line: a damaged
// file costs one upstream request, never a wrong answer.
std::string format_tag_entries(std::span<const TagEntry> entries);
bool parse_tag_entries(std::string_view text, std::vector<TagEntry> &out);
// The entry that answers a client with `accept_mask`: the upstream's answer to exactly that
// mask, else the most recently confirmed one that stored_answer_serves allows; null for none.
const TagEntry *entry_for_client(std::span<const TagEntry> entries, uint8_t accept_mask);
// The path of a tag's file relative to the cache root; false when a component cannot be a path
// segment (the route grammar already excludes those; this is the second line of defence).
bool tag_entries_path(const TagKey &key, std::string &out);

class TagStore {
public:
  explicit TagStore(BlobStore &store) : store_(store) {}
  // The entry for a client with `accept_mask` (see entry_for_client).
  core::Task<bool> load(const TagKey &key, uint8_t accept_mask, TagEntry &out);
  // Records `entry` as the answer to entry.accept_mask, keeping the tag's other answers. Two
  // workers saving the same tag at once may lose one answer: that costs one upstream request.
  core::Task<bool> save(const TagKey &key, const TagEntry &entry);

private:
  core::Task<bool> load_all(const std::string &path, std::vector<TagEntry> &out);

  BlobStore &store_;
};

} // namespace regcache::registry

#pragma once
// The entries of a tag: the last answers the upstream gave for it, per Accept mask (which
// digest, its media type and size, when the upstream last confirmed it), and the pure functions
// over them: the tag file's text and back, which entry answers a client, recording an answer,
// and the file's path. TagStore keeps them in files, TagIndex in memory.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "registry/api/digest.h"
#include "registry/cache/media_type_name.h"

namespace regcache::registry {

struct TagKey {
  std::string_view upstream; // authority, e.g. registry-1.docker.io or 127.0.0.1:5000
  std::string_view name;     // repository name as sent upstream
  std::string_view tag;
};
// The longest key TagIndex holds: an authority (kRegistryHostBytesMax), a name upstream (the
// client's, at most 255 bytes, with library/ or an upstream's prefix in front) and a tag (128).
inline constexpr size_t kTagKeyBytesMax = 1024;

struct TagEntry {
  Digest digest{};
  uint64_t size_bytes = 0;
  int64_t confirmed_unix_ms = 0;
  MediaTypeName media_type; // held for the process (media_type_name.h): copies allocate nothing
  uint8_t accept_mask = 0;  // the Accept (registry/api/accept_kind.h) the upstream answered
};

// A tag keeps at most this many answers; a new Accept combination past it replaces the one
// confirmed longest ago. Real clients send a handful of combinations (containerd, dockerd,
// containers/image, distribution's own).
inline constexpr size_t kTagEntriesMax = 8;

// The longest tag file: kTagEntriesMax lines of mask, digest, two numbers and a media type
// (RFC 6838 caps its type and subtype at 127 bytes each).
inline constexpr size_t kTagEntriesBytesMax = 4096;

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
// Records `entry` in a tag's entries as the answer to entry.accept_mask: it replaces the answer
// to the same mask, else is added, else (kTagEntriesMax answers already) replaces the one
// confirmed longest ago.
void record_answer(std::vector<TagEntry> &entries, const TagEntry &entry);

// Pure: removes the entries whose digest is in `evicted` (ascending); true when any was.
bool drop_entries_naming(std::vector<TagEntry> &entries, std::span<const Digest> evicted);

} // namespace regcache::registry

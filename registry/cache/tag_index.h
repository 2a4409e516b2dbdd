#pragma once
// The tag entries of recently used tags, in memory, shared by every worker: what TagStore's
// files say, so that a hit by tag reads no file. The files stay the truth (a restart reads them
// again, see TagStore::preload); every change to one goes through here too (TagStore::save
// writes the file and then the entries held here; the tag sweep drops the entries naming
// evicted manifests from both).
//
// Bounded by a count of tags, least recently used out first: the tags a cache has ever seen
// grow without bound (every CI tag of every repository), the ones in use are few. A tag not
// held is read from its file and held from then on.
//
// Locking: 64 shards by a hash of the key, each a mutex and a core::LruMap. A lookup builds its
// key in a fixed buffer, takes one shard's lock for a hash lookup, a list splice and the copy
// of one entry, and allocates nothing; a map node is allocated only when a tag is held anew.
// Nothing holds a shard's lock across I/O or another lock.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "core/lru_map.h"
#include "registry/api/digest.h"
#include "registry/cache/tag_entries.h"

namespace regcache::registry {

class TagIndex {
public:
  // `tags_max`: tags held at most (0: none, every lookup reads the file).
  explicit TagIndex(size_t tags_max);
  TagIndex(const TagIndex &) = delete;
  TagIndex &operator=(const TagIndex &) = delete;

  enum class Lookup : uint8_t {
    Answer,   // `out` is the entry for the client (entry_for_client)
    NoAnswer, // the tag is held, and none of its entries answers this client
    NotHeld,  // not in memory: the file says
  };
  Lookup find(const TagKey &key, uint8_t accept_mask, TagEntry &out);
  // Every entry of a held tag into `out`; false when the tag is not held.
  bool copy_entries(const TagKey &key, std::vector<TagEntry> &out);
  // The tag's entries are `entries` now (what its file holds); none: the tag is forgotten.
  void hold(const TagKey &key, std::span<const TagEntry> entries);
  // The same for what a file read found, unless the tag is held already: a save that ran
  // while the file was read holds the newer entries, which a stale read must not replace.
  void hold_if_absent(const TagKey &key, std::span<const TagEntry> entries);
  void forget(const TagKey &key);
  // Drops the entries naming a digest in `evicted` (ascending), as the tag sweep does in the
  // files; a tag left with none is forgotten. Walks every held tag (the evictor's thread).
  void drop_entries_naming(std::span<const Digest> evicted);

  size_t tags_held() const;
  size_t tags_max() const { return tags_max_; }

private:
  static constexpr size_t kShards = 64;
  struct Held {
    std::vector<TagEntry> entries; // at most kTagEntriesMax
  };
  struct Shard {
    explicit Shard(size_t tags_max) : tags(tags_max) {}
    mutable std::mutex mutex;
    core::LruMap<Held> tags; // keyed by key_text
  };
  // "<upstream>\n<name>\n<tag>": no component contains a newline (the route grammar).
  using KeyText = std::array<char, kTagKeyBytesMax>;
  static std::string_view key_text(const TagKey &key, KeyText &out);
  Shard &shard_of(std::string_view key);
  // Calls visit(the shard's map, the key's text) under the shard's lock; nothing when the
  // index is off or the key does not fit a KeyText.
  template <typename Visit> void with_shard(const TagKey &key, Visit visit);

  const size_t tags_max_;
  std::array<std::unique_ptr<Shard>, kShards> shards_;
};

} // namespace regcache::registry

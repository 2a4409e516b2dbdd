#pragma once
// The last answers the upstream gave for a tag (tag_entries.h), per (upstream, repository, tag).
// The manifest bytes themselves live in the blob store by digest (a HEAD miss records an entry
// before they are there). The entries of a tag are one small file, written to tmp/ and renamed
// into place, so a reader never sees half of it and it survives restarts; the entries of the
// tags in use are held in memory too (tag_index.h), so a hit reads no file.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/task.h"
#include "registry/api/digest.h"
#include "registry/cache/tag_entries.h"

namespace regcache::registry {

class BlobStore;
class TagIndex;

class TagStore {
public:
  // `tags_in_memory_max`: tags whose entries are held in memory (tag_index.h); 0: none.
  TagStore(BlobStore &store, size_t tags_in_memory_max);
  ~TagStore();
  // Startup only, blocking: holds the entries of up to tags_in_memory_max tags found under
  // tags/, so the first hits after a restart read no file either. Returns the tags held.
  size_t preload();
  // The entry for a client with `accept_mask` (see entry_for_client): from memory when the tag
  // is held, else from its file (and held from then on).
  core::Task<bool> load(const TagKey &key, uint8_t accept_mask, TagEntry &out);
  // Records `entry` as the answer to entry.accept_mask, keeping the tag's other answers, in the
  // file and then in memory. Two workers saving the same tag at once may lose one answer: that
  // costs one upstream request.
  core::Task<bool> save(const TagKey &key, const TagEntry &entry);
  // The tag moved (a push through regcache): every answer is kept but counts as confirmed long
  // ago, so the next request by tag revalidates at once, and an upstream that is down still
  // gets the old answer served stale. False when the tag had no entries or the file could not
  // be written (then its memory is forgotten, and the file, if any, says what it said).
  core::Task<bool> expire(const TagKey &key);
  // What the tag sweep (the evictor's thread) dropped from the files, dropped in memory.
  void drop_entries_naming(std::span<const Digest> evicted);
  TagIndex &index() { return *index_; }

private:
  core::Task<bool> load_all(const std::string &path, std::vector<TagEntry> &out);

  BlobStore &store_;
  std::unique_ptr<TagIndex> index_;
};

} // namespace regcache::registry

#include "registry/cache/tag_store.h"

#include <fcntl.h>

#include <array>

#include "core/io_ops.h"
#include "registry/cache/atomic_file.h"
#include "registry/cache/blob_store.h"
#include "registry/cache/tag_index.h"
#include "registry/cache/tag_sweep.h"

namespace regcache::registry {

TagStore::TagStore(BlobStore &store, size_t tags_in_memory_max)
    : store_(store), index_(std::make_unique<TagIndex>(tags_in_memory_max)) {}

TagStore::~TagStore() = default;

size_t TagStore::preload() {
  return preload_tag_index(store_, *index_);
}

void TagStore::drop_entries_naming(std::span<const Digest> evicted) {
  index_->drop_entries_naming(evicted);
}

core::Task<bool> TagStore::load_all(const std::string &path, std::vector<TagEntry> &out) {
  std::array<char, kTagEntriesBytesMax> text;
  int got = co_await read_small_file(store_, path.c_str(), text);
  if (got <= 0)
    co_return false;
  co_return parse_tag_entries(std::string_view(text.data(), static_cast<size_t>(got)), out);
}

core::Task<bool> TagStore::load(const TagKey &key, uint8_t accept_mask, TagEntry &out) {
  switch (index_->find(key, accept_mask, out)) {
  case TagIndex::Lookup::Answer:
    co_return true;
  case TagIndex::Lookup::NoAnswer:
    co_return false;
  case TagIndex::Lookup::NotHeld:
    break;
  }
  std::string path;
  if (!tag_entries_path(key, path))
    co_return false;
  std::vector<TagEntry> entries;
  bool loaded = co_await load_all(path, entries);
  if (!loaded)
    co_return false;
  index_->hold_if_absent(key, entries);
  const TagEntry *entry = entry_for_client(entries, accept_mask);
  if (entry == nullptr)
    co_return false;
  out = *entry;
  co_return true;
}

core::Task<bool> TagStore::expire(const TagKey &key) {
  std::string path;
  if (!tag_entries_path(key, path))
    co_return false;
  std::vector<TagEntry> entries;
  if (!index_->copy_entries(key, entries)) {
    bool loaded = co_await load_all(path, entries);
    if (!loaded)
      co_return false; // nothing cached for this tag
  }
  for (TagEntry &entry : entries)
    entry.confirmed_unix_ms = 0;
  // Memory follows the file, as in save: a failed write leaves the old file, which the next load
  // reads again.
  index_->forget(key);
  const std::string text = format_tag_entries(entries);
  bool written = co_await write_file_atomically(store_, path.c_str(), text, false);
  if (written)
    index_->hold(key, entries);
  co_return written;
}

core::Task<bool> TagStore::save(const TagKey &key, const TagEntry &entry) {
  std::string path;
  if (!tag_entries_path(key, path))
    co_return false;
  if (entry.media_type.empty())
    co_return false; // a type media_type_name.h could not hold: not remembered
  std::vector<TagEntry> entries;
  if (!index_->copy_entries(key, entries)) {
    bool loaded = co_await load_all(path, entries);
    if (!loaded)
      entries.clear(); // missing or damaged: start over
  }
  record_answer(entries, entry);
  std::string text = format_tag_entries(entries);
  if (text.size() > kTagEntriesBytesMax)
    co_return false; // media types no registry sends; the next request asks again
  // Create the directories, one component at a time (EEXIST is the common answer).
  for (size_t slash = path.find('/'); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    std::string directory = path.substr(0, slash);
    int rc = co_await core::mkdirat(store_.root_fd(), directory.c_str(), 0755);
    if (rc < 0 && rc != -EEXIST)
      co_return false;
  }
  // No fsync: a lost tag entry after a power cut costs one upstream request, nothing more.
  bool written = co_await write_file_atomically(store_, path.c_str(), text, false);
  // Memory follows the file: what it holds is what a restart would read. A failed write leaves
  // the file as it was, which the next load reads again.
  if (written) {
    index_->hold(key, entries);
  } else {
    index_->forget(key);
  }
  co_return written;
}

} // namespace regcache::registry

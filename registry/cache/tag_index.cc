#include "registry/cache/tag_index.h"

#include <algorithm>
#include <cstring>
#include <functional>

namespace regcache::registry {

TagIndex::TagIndex(size_t tags_max) : tags_max_(tags_max) {
  if (tags_max_ == 0)
    return;
  // Each shard gets its share of the bound (at least one tag): a hash spreads keys evenly, so
  // the bound holds within a shard's rounding.
  const size_t per_shard = std::max<size_t>(1, (tags_max_ + kShards - 1) / kShards);
  for (std::unique_ptr<Shard> &shard : shards_)
    shard = std::make_unique<Shard>(per_shard);
}

std::string_view TagIndex::key_text(const TagKey &key, KeyText &out) {
  const size_t bytes = key.upstream.size() + key.name.size() + key.tag.size() + 2;
  if (bytes > out.size())
    return {}; // longer than any key the route grammar lets through: not held
  char *place = out.data();
  for (std::string_view part : {key.upstream, key.name, key.tag}) {
    if (!part.empty()) // a null view must not reach memcpy
      std::memcpy(place, part.data(), part.size());
    place += part.size();
    if (place < out.data() + bytes)
      *place++ = '\n';
  }
  return {out.data(), bytes};
}

TagIndex::Shard &TagIndex::shard_of(std::string_view key) {
  return *shards_[std::hash<std::string_view>{}(key) % kShards];
}

template <typename Visit> void TagIndex::with_shard(const TagKey &key, Visit visit) {
  if (tags_max_ == 0)
    return;
  KeyText buffer;
  const std::string_view text = key_text(key, buffer);
  if (text.empty())
    return;
  Shard &shard = shard_of(text);
  std::lock_guard lock(shard.mutex);
  visit(shard.tags, text);
}

TagIndex::Lookup TagIndex::find(const TagKey &key, uint8_t accept_mask, TagEntry &out) {
  Lookup lookup = Lookup::NotHeld;
  with_shard(key, [&](core::LruMap<Held> &tags, std::string_view text) {
    const Held *held = tags.find(text);
    if (held == nullptr)
      return;
    const TagEntry *entry = entry_for_client(held->entries, accept_mask);
    lookup = entry == nullptr ? Lookup::NoAnswer : Lookup::Answer;
    if (entry != nullptr)
      out = *entry;
  });
  return lookup;
}

bool TagIndex::copy_entries(const TagKey &key, std::vector<TagEntry> &out) {
  bool copied = false;
  with_shard(key, [&](core::LruMap<Held> &tags, std::string_view text) {
    if (const Held *held = tags.find(text)) {
      out = held->entries;
      copied = true;
    }
  });
  return copied;
}

void TagIndex::hold(const TagKey &key, std::span<const TagEntry> entries) {
  if (entries.empty()) {
    forget(key);
    return;
  }
  with_shard(key, [&](core::LruMap<Held> &tags, std::string_view text) {
    Held &held = tags.find_or_insert(
        text, [](const Held &) { return false; }, [](const Held &) { return false; });
    held.entries.assign(entries.begin(),
                        entries.begin() + std::min(entries.size(), kTagEntriesMax));
  });
}

void TagIndex::hold_if_absent(const TagKey &key, std::span<const TagEntry> entries) {
  if (entries.empty())
    return;
  with_shard(key, [&](core::LruMap<Held> &tags, std::string_view text) {
    bool inserted = false;
    Held &held = tags.find_or_insert(
        text, [](const Held &) { return false; }, [](const Held &) { return false; }, &inserted);
    if (inserted)
      held.entries.assign(entries.begin(),
                          entries.begin() + std::min(entries.size(), kTagEntriesMax));
  });
}

void TagIndex::forget(const TagKey &key) {
  with_shard(key, [](core::LruMap<Held> &tags, std::string_view text) { tags.erase(text); });
}

void TagIndex::drop_entries_naming(std::span<const Digest> evicted) {
  if (tags_max_ == 0 || evicted.empty())
    return;
  for (std::unique_ptr<Shard> &shard : shards_) {
    std::lock_guard lock(shard->mutex);
    shard->tags.erase_if([&](Held &held) {
      registry::drop_entries_naming(held.entries, evicted);
      return held.entries.empty();
    });
  }
}

size_t TagIndex::tags_held() const {
  size_t held = 0;
  if (tags_max_ == 0)
    return held;
  for (const std::unique_ptr<Shard> &shard : shards_) {
    std::lock_guard lock(shard->mutex);
    held += shard->tags.size();
  }
  return held;
}

} // namespace regcache::registry

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

TagIndex::Lookup TagIndex::find(const TagKey &key, uint8_t accept_mask, TagEntry &out) {
  if (tags_max_ == 0)
    return Lookup::NotHeld;
  KeyText buffer;
  const std::string_view text = key_text(key, buffer);
  if (text.empty())
    return Lookup::NotHeld;
  Shard &shard = shard_of(text);
  std::lock_guard lock(shard.mutex);
  const Held *held = shard.tags.find(text);
  if (held == nullptr)
    return Lookup::NotHeld;
  const TagEntry *entry = entry_for_client(held->entries, accept_mask);
  if (entry == nullptr)
    return Lookup::NoAnswer;
  out = *entry;
  return Lookup::Answer;
}

bool TagIndex::copy_entries(const TagKey &key, std::vector<TagEntry> &out) {
  if (tags_max_ == 0)
    return false;
  KeyText buffer;
  const std::string_view text = key_text(key, buffer);
  if (text.empty())
    return false;
  Shard &shard = shard_of(text);
  std::lock_guard lock(shard.mutex);
  const Held *held = shard.tags.find(text);
  if (held == nullptr)
    return false;
  out = held->entries;
  return true;
}

void TagIndex::hold(const TagKey &key, std::span<const TagEntry> entries) {
  if (tags_max_ == 0)
    return;
  if (entries.empty()) {
    forget(key);
    return;
  }
  KeyText buffer;
  const std::string_view text = key_text(key, buffer);
  if (text.empty())
    return;
  Shard &shard = shard_of(text);
  std::lock_guard lock(shard.mutex);
  Held &held = shard.tags.find_or_insert(
      text, [](const Held &) { return false; }, [](const Held &) { return false; });
  held.entries.assign(entries.begin(), entries.begin() + std::min(entries.size(), kTagEntriesMax));
}

void TagIndex::forget(const TagKey &key) {
  if (tags_max_ == 0)
    return;
  KeyText buffer;
  const std::string_view text = key_text(key, buffer);
  if (text.empty())
    return;
  Shard &shard = shard_of(text);
  std::lock_guard lock(shard.mutex);
  shard.tags.erase(text);
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

#include "registry/cache/manifest_memory.h"

#include <algorithm>
#include <cassert>

namespace regcache::registry {

void ManifestMemory::configure(uint64_t bytes_max, uint64_t entry_bytes_max) {
  std::lock_guard lock(mutex_);
  bytes_max_ = bytes_max;
  entry_bytes_max_ = std::min(entry_bytes_max, bytes_max);
  held_.reset();
  bytes_held_ = 0;
  if (bytes_max_ == 0 || entry_bytes_max_ == 0) {
    bytes_max_ = 0;
    return;
  }
  // The bytes bound is the one that matters; the count bound only keeps a flood of tiny
  // manifests from costing more in map nodes than in bytes (256 bytes each at least).
  held_ = std::make_unique<core::LruMap<HeldManifestRef>>(
      static_cast<size_t>(std::max<uint64_t>(1, bytes_max_ / 256)));
}

void ManifestMemory::put(const Digest &digest, MediaTypeName media_type, std::string_view bytes) {
  if (!fits(bytes.size()) || media_type.empty())
    return;
  // Built outside the lock: the copy of the bytes is the one allocation of a fill.
  auto manifest = std::make_shared<HeldManifest>();
  manifest->digest = digest;
  manifest->media_type = media_type;
  manifest->bytes.assign(bytes);
  const std::string_view key = key_of(digest);
  std::lock_guard lock(mutex_);
  drop_locked(key);
  // Oldest first until the new one fits, in bytes and in count (LruMap would otherwise drop one
  // behind the byte count's back); bounded by the entries held.
  while (bytes_held_ + bytes.size() > bytes_max_ || held_->size() >= held_->entries_max()) {
    std::string_view oldest_key;
    if (held_->least_recently_used(&oldest_key) == nullptr)
      break;
    drop_locked(oldest_key);
  }
  HeldManifestRef &slot = held_->find_or_insert(
      key, [](const HeldManifestRef &) { return false; },
      [](const HeldManifestRef &) { return false; });
  slot = std::move(manifest);
  bytes_held_ += bytes.size();
  assert(bytes_held_ <= bytes_max_);
}

HeldManifestRef ManifestMemory::find(const Digest &digest) {
  if (bytes_max_ == 0)
    return nullptr;
  std::lock_guard lock(mutex_);
  HeldManifestRef *held = held_->find(key_of(digest));
  return held == nullptr ? nullptr : *held;
}

void ManifestMemory::drop(const Digest &digest) {
  if (bytes_max_ == 0)
    return;
  std::lock_guard lock(mutex_);
  drop_locked(key_of(digest));
}

void ManifestMemory::drop_locked(std::string_view key) {
  HeldManifestRef *held = held_->peek(key);
  if (held == nullptr)
    return;
  assert(*held != nullptr && bytes_held_ >= (*held)->bytes.size());
  bytes_held_ -= (*held)->bytes.size();
  held_->erase(key); // `key` may view the erased node's own key: erase last
}

uint64_t ManifestMemory::bytes_held() const {
  std::lock_guard lock(mutex_);
  return bytes_held_;
}

size_t ManifestMemory::count() const {
  std::lock_guard lock(mutex_);
  return held_ ? held_->size() : 0;
}

} // namespace regcache::registry

#pragma once
// Small manifests kept in memory by digest, bytes and media type, so that a manifest hit is one
// send from memory: no open, statx, splice or close. Shared by every worker.
//
// Bounded: at most `bytes_max` bytes of manifests in all, each at most `entry_bytes_max`
// (0 turns the memory off); the least recently used go first. Filled only with bytes whose
// sha256 is their digest: those a store verified (store_manifest), and those of a file that was
// read and hashed on its first hit (manifest_store.h). An entry is not the truth either: a hit
// serves it only while the blob index says the manifest's file is Present (so an evicted or
// rotten manifest is a miss whatever memory holds), and eviction drops it (Evictor).
//
// Locking: one mutex over one LruMap. A hit holds it for a hash lookup, a list splice and the
// copy of a shared_ptr (an atomic increment); the bytes are sent after the lock is released,
// kept alive by that reference even if the entry is dropped meanwhile. A hit allocates nothing;
// an entry is allocated when it is filled.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/lru_map.h"
#include "registry/api/digest.h"
#include "registry/cache/media_type_name.h"

namespace regcache::registry {

struct HeldManifest {
  Digest digest{};
  MediaTypeName media_type;
  std::string bytes;
};
using HeldManifestRef = std::shared_ptr<const HeldManifest>;

inline constexpr uint64_t kManifestMemoryBytesDefault = uint64_t{4} << 20;
inline constexpr uint64_t kManifestMemoryEntryBytesDefault = uint64_t{64} << 10;

class ManifestMemory {
public:
  ManifestMemory() = default;
  ManifestMemory(const ManifestMemory &) = delete;
  ManifestMemory &operator=(const ManifestMemory &) = delete;

  // Startup, before any worker runs. 0 bytes: nothing is ever held.
  void configure(uint64_t bytes_max, uint64_t entry_bytes_max);
  // Whether a manifest of `size_bytes` would be held.
  bool fits(uint64_t size_bytes) const {
    return bytes_max_ > 0 && size_bytes > 0 && size_bytes <= entry_bytes_max_;
  }

  // Holds `bytes` (whose sha256 the caller checked is `digest`) with their type, making room.
  // Nothing when it does not fit or the type is empty.
  void put(const Digest &digest, MediaTypeName media_type, std::string_view bytes);
  // The held manifest, now the most recently used; null when not held.
  HeldManifestRef find(const Digest &digest);
  void drop(const Digest &digest);

  uint64_t bytes_held() const;
  size_t count() const;

private:
  static std::string_view key_of(const Digest &digest) {
    return {reinterpret_cast<const char *>(digest.bytes.data()), digest.bytes.size()};
  }
  void drop_locked(std::string_view key);

  uint64_t bytes_max_ = 0;
  uint64_t entry_bytes_max_ = 0;
  mutable std::mutex mutex_;
  std::unique_ptr<core::LruMap<HeldManifestRef>> held_; // null until configured on
  uint64_t bytes_held_ = 0;                             // under mutex_
};

} // namespace regcache::registry

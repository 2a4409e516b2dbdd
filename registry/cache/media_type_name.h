#pragma once
// Media types held in memory for the life of the process, each spelled once. A tag entry and a
// manifest kept in memory carry a MediaTypeName (a pointer and a length) instead of a
// std::string, so copying one out of a shared index on the hit path allocates nothing, and the
// index holds a handful of spellings however many tags name them. Registries send a few types
// (kManifestMediaTypes, sometimes with parameters); the table is bounded, and a type past the
// bound is simply not held (the caller treats it as not cacheable, which costs upstream
// requests, never a wrong answer).
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace regcache::registry {

class MediaTypeName {
public:
  MediaTypeName() = default;
  std::string_view view() const { return {data_, size_}; }
  bool empty() const { return size_ == 0; }
  friend bool operator==(const MediaTypeName &a, const MediaTypeName &b) {
    return a.view() == b.view();
  }

private:
  friend MediaTypeName intern_media_type(std::string_view text);
  MediaTypeName(const char *data, uint16_t size) : data_(data), size_(size) {}
  const char *data_ = "";
  uint16_t size_ = 0;
};

// Distinct spellings held at most, and the longest held (what meta/ files hold, see
// manifest_store.cc).
inline constexpr size_t kMediaTypeNamesMax = 256;
inline constexpr size_t kMediaTypeNameBytesMax = 255;

// The held name spelled `text` (added when new); empty when `text` is empty, longer than
// kMediaTypeNameBytesMax, or new with the table full. Thread-safe; takes a lock and compares
// against every held name, so it belongs where a type arrives (an upstream answer, a file
// read), not on the hit path.
MediaTypeName intern_media_type(std::string_view text);

} // namespace regcache::registry

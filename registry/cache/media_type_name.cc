#include "registry/cache/media_type_name.h"

#include <array>
#include <cstring>
#include <mutex>

namespace regcache::registry {
namespace {

// One table for the process: a name handed out stays valid until exit, so holders need no
// reference counts. Names are never removed, and at most kMediaTypeNamesMax are added.
struct NameTable {
  std::mutex mutex;
  std::array<char, kMediaTypeNamesMax * 64> storage{};
  size_t storage_used = 0;
  std::array<MediaTypeName, kMediaTypeNamesMax> names{};
  size_t count = 0;
};

NameTable &name_table() {
  static NameTable table; // constructed on first use, thread-safe (C++11 magic statics)
  return table;
}

} // namespace

MediaTypeName intern_media_type(std::string_view text) {
  if (text.empty() || text.size() > kMediaTypeNameBytesMax)
    return {};
  NameTable &table = name_table();
  std::lock_guard lock(table.mutex);
  for (size_t index = 0; index < table.count; ++index) { // bounded by kMediaTypeNamesMax
    if (table.names[index].view() == text)
      return table.names[index];
  }
  if (table.count == table.names.size() || table.storage.size() - table.storage_used < text.size())
    return {};
  char *place = table.storage.data() + table.storage_used;
  std::memcpy(place, text.data(), text.size());
  table.storage_used += text.size();
  MediaTypeName name(place, static_cast<uint16_t>(text.size()));
  table.names[table.count++] = name;
  return name;
}

} // namespace regcache::registry

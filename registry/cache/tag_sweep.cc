#include "registry/cache/tag_sweep.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <string>
#include <system_error>

#include "registry/cache/blob_store.h"
#include "registry/cache/index_snapshot.h"

namespace regcache::registry {
namespace {

// A tag file is at most 4096 bytes (tag_store.cc); one byte more tells a longer one apart.
constexpr size_t kTagFileBytesMax = 4097;
// Bounds the walk: more tag files than any cache of this layout holds.
constexpr uint64_t kTagFilesMax = uint64_t{1} << 24;

bool read_tag_file(int root_fd, const std::string &path, std::string &out) {
  int fd = ::openat(root_fd, path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  std::array<char, kTagFileBytesMax> buffer;
  ssize_t got = ::pread(fd, buffer.data(), buffer.size(), 0);
  ::close(fd);
  if (got <= 0 || static_cast<size_t>(got) == buffer.size())
    return false;
  out.assign(buffer.data(), static_cast<size_t>(got));
  return true;
}

bool write_tag_file(BlobStore &store, const std::string &path, const std::string &text) {
  StorePath temp = store.temp_path();
  int fd = ::openat(store.root_fd(), temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    return false;
  bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  // No fsync, as TagStore::save: a lost rewrite leaves the old file, whole.
  if (written && ::renameat(store.root_fd(), temp.c_str(), store.root_fd(), path.c_str()) == 0)
    return true;
  ::unlinkat(store.root_fd(), temp.c_str(), 0);
  return false;
}

} // namespace

bool drop_entries_naming(std::vector<TagEntry> &entries, std::span<const Digest> evicted) {
  const size_t before = entries.size();
  std::erase_if(entries, [&](const TagEntry &entry) {
    return std::binary_search(evicted.begin(), evicted.end(), entry.digest, digest_less);
  });
  return entries.size() != before;
}

TagSweepReport sweep_tag_entries(BlobStore &store, std::span<const Digest> evicted) {
  TagSweepReport report;
  const std::filesystem::path root(store.root());
  std::error_code ec;
  auto walk = std::filesystem::recursive_directory_iterator(
      root / "tags", std::filesystem::directory_options::skip_permission_denied, ec);
  std::string text;
  std::vector<TagEntry> entries;
  for (; !ec && walk != std::filesystem::recursive_directory_iterator(); walk.increment(ec)) {
    if (report.files_seen >= kTagFilesMax)
      break;
    const std::filesystem::directory_entry &file = *walk;
    std::error_code type_ec;
    if (!file.is_regular_file(type_ec) || !file.path().filename().string().ends_with("@entries"))
      continue;
    ++report.files_seen;
    const std::string path = file.path().lexically_relative(root).string();
    if (!read_tag_file(store.root_fd(), path, text) || !parse_tag_entries(text, entries))
      continue; // a damaged file is TagStore's to replace
    const size_t before = entries.size();
    if (!drop_entries_naming(entries, evicted))
      continue;
    if (entries.empty()) {
      if (::unlinkat(store.root_fd(), path.c_str(), 0) == 0) {
        ++report.files_removed;
        report.entries_dropped += before;
      }
      continue;
    }
    if (write_tag_file(store, path, format_tag_entries(entries)))
      report.entries_dropped += before - entries.size();
  }
  return report;
}

} // namespace regcache::registry

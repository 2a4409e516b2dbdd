#include "registry/cache/tag_sweep.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <string>
#include <system_error>

#include "registry/cache/atomic_file.h"
#include "registry/cache/blob_store.h"
#include "registry/cache/index_snapshot.h"
#include "registry/cache/tag_index.h"

namespace regcache::registry {
namespace {

// One byte more than a tag file holds tells a longer one apart.
constexpr size_t kTagFileBytesMax = kTagEntriesBytesMax + 1;
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
  // No fsync, as TagStore::save: a lost rewrite leaves the old file, whole.
  return write_file_atomically_blocking(store, path.c_str(), text, false);
}

} // namespace

void walk_tag_files(BlobStore &store, uint64_t *files_seen, const TagFileVisitor &visit) {
  const std::filesystem::path root(store.root());
  std::error_code ec;
  auto walk = std::filesystem::recursive_directory_iterator(
      root / "tags", std::filesystem::directory_options::skip_permission_denied, ec);
  std::string text;
  std::vector<TagEntry> entries;
  for (; !ec && walk != std::filesystem::recursive_directory_iterator(); walk.increment(ec)) {
    if (*files_seen >= kTagFilesMax)
      break;
    const std::filesystem::directory_entry &file = *walk;
    std::error_code type_ec;
    if (!file.is_regular_file(type_ec) || !file.path().filename().string().ends_with("@entries"))
      continue;
    ++*files_seen;
    const std::string path = file.path().lexically_relative(root).string();
    if (!read_tag_file(store.root_fd(), path, text) || !parse_tag_entries(text, entries))
      continue; // a damaged file is TagStore's to replace
    if (!visit(path, entries))
      break;
  }
}

TagSweepReport sweep_tag_entries(BlobStore &store, std::span<const Digest> evicted,
                                 TagIndex *held) {
  TagSweepReport report;
  // Memory first: a hit between the two must not find there what the file no longer says.
  if (held != nullptr)
    held->drop_entries_naming(evicted);
  walk_tag_files(store, &report.files_seen,
                 [&](const std::string &path, std::vector<TagEntry> &entries) {
                   const size_t before = entries.size();
                   if (!drop_entries_naming(entries, evicted))
                     return true;
                   if (entries.empty()) {
                     if (::unlinkat(store.root_fd(), path.c_str(), 0) == 0) {
                       ++report.files_removed;
                       report.entries_dropped += before;
                     }
                     return true;
                   }
                   if (write_tag_file(store, path, format_tag_entries(entries)))
                     report.entries_dropped += before - entries.size();
                   return true;
                 });
  return report;
}

bool tag_key_of_path(std::string_view path, std::string &upstream, TagKey &out) {
  constexpr std::string_view kPrefix = "tags/";
  constexpr std::string_view kSuffix = "@entries";
  if (!path.starts_with(kPrefix) || !path.ends_with(kSuffix))
    return false;
  path.remove_prefix(kPrefix.size());
  path.remove_suffix(kSuffix.size());
  const size_t first_slash = path.find('/');
  const size_t last_slash = path.rfind('/');
  if (first_slash == std::string_view::npos || last_slash == first_slash)
    return false; // tags/<upstream>/<name>/<tag>: at least two slashes
  upstream.assign(path.substr(0, first_slash));
  // tag_entries_path wrote every ':' of the authority as '_': the ones inside an IPv6 literal's
  // brackets, and the one before the port. A host has no '_' (RFC 952/1123 names), so this
  // gives back the authority the file was written for; a path of a host that did have one is
  // as ambiguous as the file name itself.
  bool in_brackets = false;
  const size_t last_underscore = upstream.rfind('_');
  for (size_t index = 0; index < upstream.size(); ++index) {
    char &c = upstream[index];
    if (c == '[')
      in_brackets = true;
    if (c == ']')
      in_brackets = false;
    if (c != '_')
      continue;
    const std::string_view rest = std::string_view(upstream).substr(index + 1);
    const bool port_follows = index == last_underscore && !rest.empty() && rest.size() <= 5 &&
                              rest.find_first_not_of("0123456789") == std::string_view::npos;
    if (in_brackets || port_follows)
      c = ':';
  }
  out.upstream = upstream;
  out.name = path.substr(first_slash + 1, last_slash - first_slash - 1);
  out.tag = path.substr(last_slash + 1);
  return !out.name.empty() && !out.tag.empty();
}

size_t preload_tag_index(BlobStore &store, TagIndex &index) {
  size_t held = 0;
  uint64_t files_seen = 0;
  std::string upstream;
  walk_tag_files(store, &files_seen, [&](const std::string &path, std::vector<TagEntry> &entries) {
    if (held >= index.tags_max())
      return false;
    TagKey key;
    if (tag_key_of_path(path, upstream, key) && !entries.empty()) {
      index.hold_if_absent(key, entries);
      ++held;
    }
    return true;
  });
  return held;
}

} // namespace regcache::registry

#include "registry/cache/tag_store.h"

#include <fcntl.h>
#include <fmt/format.h>

#include <array>
#include <charconv>

#include "core/io_ops.h"
#include "registry/cache/atomic_file.h"
#include "registry/cache/blob_store.h"

namespace regcache::registry {
namespace {

constexpr size_t kEntryBytesMax = 1024;

bool safe_segment(std::string_view segment) {
  return !segment.empty() && segment != "." && segment != ".." &&
         segment.find('/') == std::string_view::npos &&
         segment.find('\0') == std::string_view::npos;
}

} // namespace

std::string format_tag_entry(const TagEntry &entry) {
  return fmt::format("{} {} {}\n{}\n", to_string(entry.digest), entry.size_bytes,
                     entry.confirmed_unix_ms, entry.media_type);
}

bool parse_tag_entry(std::string_view text, TagEntry &out) {
  size_t line_end = text.find('\n');
  if (line_end == std::string_view::npos)
    return false;
  std::string_view first = text.substr(0, line_end);
  std::string_view rest = text.substr(line_end + 1);
  size_t space1 = first.find(' ');
  size_t space2 = first.find(' ', space1 + 1);
  if (space1 == std::string_view::npos || space2 == std::string_view::npos)
    return false;
  auto digest = parse_sha256_digest(first.substr(0, space1));
  if (!digest)
    return false;
  std::string_view size_text = first.substr(space1 + 1, space2 - space1 - 1);
  std::string_view time_text = first.substr(space2 + 1);
  uint64_t size = 0;
  int64_t confirmed = 0;
  auto [size_end, size_ec] =
      std::from_chars(size_text.data(), size_text.data() + size_text.size(), size);
  auto [time_end, time_ec] =
      std::from_chars(time_text.data(), time_text.data() + time_text.size(), confirmed);
  if (size_ec != std::errc() || size_end != size_text.data() + size_text.size())
    return false;
  if (time_ec != std::errc() || time_end != time_text.data() + time_text.size())
    return false;
  size_t type_end = rest.find('\n');
  if (type_end == std::string_view::npos || type_end == 0)
    return false;
  out.digest = *digest;
  out.size_bytes = size;
  out.confirmed_unix_ms = confirmed;
  out.media_type = std::string(rest.substr(0, type_end));
  return true;
}

bool tag_entry_path(const TagKey &key, std::string &out) {
  std::string upstream(key.upstream);
  for (char &c : upstream) {
    if (c == ':')
      c = '_'; // host:port -> host_port, one path segment
  }
  if (!safe_segment(upstream) || !safe_segment(key.tag) || !safe_segment(key.accept_key))
    return false;
  size_t start = 0;
  for (;;) { // every component of the repository name must be a plain segment
    size_t slash = key.name.find('/', start);
    if (!safe_segment(
            key.name.substr(start, slash == std::string_view::npos ? slash : slash - start)))
      return false;
    if (slash == std::string_view::npos)
      break;
    start = slash + 1;
  }
  // '@' cannot occur in a repository name, so "<tag>@<kind>" never collides with a directory.
  out = fmt::format("tags/{}/{}/{}@{}", upstream, key.name, key.tag, key.accept_key);
  return true;
}

core::Task<bool> TagStore::load(const TagKey &key, TagEntry &out) {
  std::string path;
  if (!tag_entry_path(key, path))
    co_return false;
  std::array<char, kEntryBytesMax> text;
  int got = co_await read_small_file(store_, path.c_str(), text);
  if (got <= 0)
    co_return false;
  co_return parse_tag_entry(std::string_view(text.data(), static_cast<size_t>(got)), out);
}

core::Task<bool> TagStore::save(const TagKey &key, const TagEntry &entry) {
  std::string path;
  if (!tag_entry_path(key, path))
    co_return false;
  // Create the directories, one component at a time (EEXIST is the common answer).
  for (size_t slash = path.find('/'); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    std::string directory = path.substr(0, slash);
    int rc = co_await core::mkdirat(store_.root_fd(), directory.c_str(), 0755);
    if (rc < 0 && rc != -EEXIST)
      co_return false;
  }
  // No fsync: a lost tag entry after a power cut costs one upstream request, nothing more.
  co_return co_await write_file_atomically(store_, path.c_str(), format_tag_entry(entry), false);
}

} // namespace regcache::registry

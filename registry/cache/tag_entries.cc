#include "registry/cache/tag_entries.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <iterator>
#include <optional>

#include "registry/api/accept_kind.h"
#include "registry/cache/index_snapshot.h"

namespace regcache::registry {
namespace {

// The first line names the format: entries of another layout are not misread.
constexpr std::string_view kFormatLine = "regcache-tag-entries 1\n";

bool safe_segment(std::string_view segment) {
  return !segment.empty() && segment != "." && segment != ".." &&
         segment.find('/') == std::string_view::npos &&
         segment.find('\0') == std::string_view::npos;
}

template <typename Number> bool parse_number(std::string_view text, Number &out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

// Cuts the next space-separated field off `line`.
std::string_view take_field(std::string_view &line) {
  size_t space = line.find(' ');
  std::string_view field = line.substr(0, space);
  line.remove_prefix(space == std::string_view::npos ? line.size() : space + 1);
  return field;
}

// "<mask> <digest> <size> <confirmed ms> <media type>"
bool parse_entry_line(std::string_view line, TagEntry &out) {
  unsigned mask = 0;
  if (!parse_number(take_field(line), mask) || mask > kAcceptMaskAll)
    return false;
  std::optional<Digest> digest = parse_sha256_digest(take_field(line));
  if (!digest)
    return false;
  if (!parse_number(take_field(line), out.size_bytes))
    return false;
  if (!parse_number(take_field(line), out.confirmed_unix_ms))
    return false;
  if (line.empty())
    return false;
  // A type the table cannot hold makes the line unusable, as a damaged one: one upstream
  // request.
  out.media_type = intern_media_type(line);
  if (out.media_type.empty())
    return false;
  out.accept_mask = static_cast<uint8_t>(mask);
  out.digest = *digest;
  return true;
}

} // namespace

std::string format_tag_entries(std::span<const TagEntry> entries) {
  std::string text(kFormatLine);
  for (const TagEntry &entry : entries) {
    fmt::format_to(std::back_inserter(text), "{} {} {} {} {}\n", entry.accept_mask,
                   to_string(entry.digest), entry.size_bytes, entry.confirmed_unix_ms,
                   entry.media_type.view());
  }
  return text;
}

bool parse_tag_entries(std::string_view text, std::vector<TagEntry> &out) {
  out.clear();
  if (!text.starts_with(kFormatLine))
    return false;
  text.remove_prefix(kFormatLine.size());
  while (!text.empty()) { // bounded: each round removes one line
    size_t line_end = text.find('\n');
    if (line_end == std::string_view::npos || out.size() == kTagEntriesMax)
      return false; // a cut-off last line, or more than this version ever writes
    TagEntry entry;
    if (!parse_entry_line(text.substr(0, line_end), entry))
      return false;
    out.push_back(std::move(entry));
    text.remove_prefix(line_end + 1);
  }
  return true;
}

const TagEntry *entry_for_client(std::span<const TagEntry> entries, uint8_t accept_mask) {
  const TagEntry *best = nullptr;
  for (const TagEntry &entry : entries) {
    if (entry.accept_mask == accept_mask)
      return &entry;
    if (!stored_answer_serves(entry.accept_mask, entry.media_type.view(), accept_mask))
      continue;
    if (best == nullptr || entry.confirmed_unix_ms > best->confirmed_unix_ms)
      best = &entry;
  }
  return best;
}

bool tag_entries_path(const TagKey &key, std::string &out) {
  std::string upstream(key.upstream);
  for (char &c : upstream) {
    if (c == ':')
      c = '_'; // host:port -> host_port, one path segment
  }
  if (!safe_segment(upstream) || !safe_segment(key.tag))
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
  // '@' cannot occur in a repository name, so "<tag>@entries" never collides with a directory.
  // (Entries of the earlier one-file-per-Accept layout were named "<tag>@<mask letters>"; they
  // are no longer read, which costs one upstream request per tag after an upgrade.)
  out = fmt::format("tags/{}/{}/{}@entries", upstream, key.name, key.tag);
  return true;
}

void record_answer(std::vector<TagEntry> &entries, const TagEntry &entry) {
  auto same_mask = std::find_if(entries.begin(), entries.end(), [&](const TagEntry &other) {
    return other.accept_mask == entry.accept_mask;
  });
  if (same_mask != entries.end()) {
    *same_mask = entry;
  } else if (entries.size() < kTagEntriesMax) {
    entries.push_back(entry);
  } else {
    auto oldest =
        std::min_element(entries.begin(), entries.end(), [](const auto &a, const auto &b) {
          return a.confirmed_unix_ms < b.confirmed_unix_ms;
        });
    *oldest = entry;
  }
}

bool drop_entries_naming(std::vector<TagEntry> &entries, std::span<const Digest> evicted) {
  const size_t before = entries.size();
  std::erase_if(entries, [&](const TagEntry &entry) {
    return std::binary_search(evicted.begin(), evicted.end(), entry.digest, digest_less);
  });
  return entries.size() != before;
}

} // namespace regcache::registry

#include "http/message_head.h"

#include <cassert>
#include <cstring>

namespace regcache::http {
namespace {

const Header *find_header(std::span<const Header> headers, std::string_view name) {
  for (const Header &header : headers) {
    if (iequals(header.name, name))
      return &header;
  }
  return nullptr;
}

} // namespace

const Header *RequestHead::find(std::string_view name) const {
  return find_header(headers, name);
}

const Header *ResponseHead::find(std::string_view name) const {
  return find_header(headers, name);
}

size_t find_head_end(std::span<const char> input, size_t scan_from) {
  static constexpr size_t kTerminatorBytes = 4; // CRLFCRLF
  const char *const base = input.data();
  const size_t size = input.size();
  // Step back so a CRLFCRLF split across the previous and the new bytes is still found.
  size_t pos = scan_from > kTerminatorBytes - 1 ? scan_from - (kTerminatorBytes - 1) : 0;
  // Bounded: pos grows on every iteration and stays below size - 3.
  while (pos + kTerminatorBytes <= size) {
    // memchr skips ahead to the next candidate; the comparison below decides.
    const void *cr = std::memchr(base + pos, '\r', size - (kTerminatorBytes - 1) - pos);
    if (cr == nullptr)
      return 0;
    pos = size_t(static_cast<const char *>(cr) - base);
    assert(pos + kTerminatorBytes <= size);
    if (base[pos + 1] == '\n' && base[pos + 2] == '\r' && base[pos + 3] == '\n')
      return pos + kTerminatorBytes;
    ++pos;
  }
  return 0;
}

std::string_view trim_ows(std::string_view text) {
  while (!text.empty() && is_ows(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && is_ows(text.back()))
    text.remove_suffix(1);
  return text;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i]))
      return false;
  }
  return true;
}

bool header_value_has_token(std::string_view value, std::string_view token) {
  // Bounded: every iteration removes at least one element and its comma from value.
  while (true) {
    const size_t comma = value.find(',');
    std::string_view element = value.substr(0, comma);
    while (!element.empty() && (element.front() == ' ' || element.front() == '\t'))
      element.remove_prefix(1);
    while (!element.empty() && (element.back() == ' ' || element.back() == '\t'))
      element.remove_suffix(1);
    if (iequals(element, token))
      return true;
    if (comma == std::string_view::npos)
      return false;
    value.remove_prefix(comma + 1);
  }
}

} // namespace regcache::http

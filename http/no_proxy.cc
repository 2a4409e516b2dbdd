#include "http/no_proxy.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace regcache::http {
namespace {

std::string_view trimmed(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  const size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string_view::npos)
    return {};
  return text.substr(begin, text.find_last_not_of(kSpace) - begin + 1);
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char &c : out)
    c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return out;
}

// An IPv4 or IPv6 literal (without brackets) into `out`; false for anything else.
bool parse_ip(std::string_view text, std::array<uint8_t, 16> &out, bool &v6) {
  // inet_pton needs a terminated string; a literal is at most 45 characters.
  std::array<char, 64> terminated{};
  if (text.empty() || text.size() >= terminated.size())
    return false;
  std::memcpy(terminated.data(), text.data(), text.size());
  out = {};
  if (inet_pton(AF_INET, terminated.data(), out.data()) == 1) {
    v6 = false;
    return true;
  }
  if (inet_pton(AF_INET6, terminated.data(), out.data()) == 1) {
    v6 = true;
    return true;
  }
  return false;
}

// "host:port" -> "host", "[v6]:port" and "[v6]" -> "v6"; a bare IPv6 literal (two colons or
// more) is kept whole.
std::string_view without_port(std::string_view entry) {
  if (entry.starts_with('[')) {
    const size_t close = entry.find(']');
    return close == std::string_view::npos ? entry : entry.substr(1, close - 1);
  }
  const size_t colon = entry.find(':');
  if (colon != std::string_view::npos && entry.find(':', colon + 1) == std::string_view::npos)
    return entry.substr(0, colon);
  return entry;
}

bool is_name_character(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

} // namespace

bool NoProxyList::block_contains(const Block &block, const Block &address) {
  if (block.v6 != address.v6)
    return false;
  const size_t full_bytes = block.prefix_bits / 8;
  if (std::memcmp(block.address.data(), address.address.data(), full_bytes) != 0)
    return false;
  const unsigned rest_bits = block.prefix_bits % 8;
  if (rest_bits == 0)
    return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest_bits));
  return (block.address[full_bytes] & mask) == (address.address[full_bytes] & mask);
}

std::optional<NoProxyList> NoProxyList::parse(std::string_view text, std::string *problem) {
  NoProxyList list;
  list.text_ = std::string(text);
  size_t entries = 0;
  // Bounded by the text: every round consumes one entry and its comma.
  while (!text.empty()) {
    const size_t comma = text.find(',');
    const std::string_view raw = trimmed(text.substr(0, comma));
    text.remove_prefix(comma == std::string_view::npos ? text.size() : comma + 1);
    if (raw.empty())
      continue;
    if (++entries > kEntriesMax) {
      *problem = "more than " + std::to_string(kEntriesMax) + " entries";
      return std::nullopt;
    }
    if (raw == "*") {
      list.all_ = true;
      continue;
    }
    const std::string entry = lowercase(raw);
    const size_t slash = entry.find('/');
    if (slash != std::string::npos) {
      Block block;
      const std::string_view prefix_text = std::string_view(entry).substr(slash + 1);
      unsigned prefix_bits = 0;
      auto [end, ec] =
          std::from_chars(prefix_text.data(), prefix_text.data() + prefix_text.size(), prefix_bits);
      if (!parse_ip(std::string_view(entry).substr(0, slash), block.address, block.v6) ||
          ec != std::errc() || end != prefix_text.data() + prefix_text.size() ||
          prefix_text.empty() || prefix_bits > (block.v6 ? 128u : 32u)) {
        *problem = "'" + entry + "' is not an address block (10.0.0.0/8, fd00::/8)";
        return std::nullopt;
      }
      block.prefix_bits = static_cast<uint8_t>(prefix_bits);
      list.blocks_.push_back(block);
      continue;
    }
    Block literal;
    if (parse_ip(entry, literal.address, literal.v6) ||
        parse_ip(without_port(entry), literal.address, literal.v6)) {
      literal.prefix_bits = literal.v6 ? 128 : 32;
      list.blocks_.push_back(literal);
      continue;
    }
    std::string_view name = without_port(entry);
    if (name.starts_with("*."))
      name.remove_prefix(2);
    while (name.starts_with('.')) // bounded by the name
      name.remove_prefix(1);
    while (name.ends_with('.'))
      name.remove_suffix(1);
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_name_character)) {
      *problem = "'" + entry + "' is not a host name, .domain, address or address block";
      return std::nullopt;
    }
    list.names_.emplace_back(name);
  }
  return list;
}

bool NoProxyList::matches(std::string_view host) const {
  if (all_)
    return true;
  if (host.starts_with('[') && host.ends_with(']'))
    host = host.substr(1, host.size() - 2);
  Block address;
  if (parse_ip(host, address.address, address.v6)) {
    address.prefix_bits = address.v6 ? 128 : 32;
    return std::any_of(blocks_.begin(), blocks_.end(),
                       [&](const Block &block) { return block_contains(block, address); });
  }
  std::string name = lowercase(host);
  while (name.ends_with('.'))
    name.pop_back();
  return std::any_of(names_.begin(), names_.end(), [&](const std::string &entry) {
    if (name == entry)
      return true;
    // A subdomain: "a.corp.example" for "corp.example", never "evilcorp.example".
    return name.size() > entry.size() && name.ends_with(entry) &&
           name[name.size() - entry.size() - 1] == '.';
  });
}

} // namespace regcache::http

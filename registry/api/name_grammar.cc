#include "registry/api/name_grammar.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace regcache::registry {

namespace {

constexpr size_t kSha256EncodedChars = 64;
constexpr size_t kSha512EncodedChars = 128;
// "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" is the longest textual IPv6 address.
constexpr size_t kIpv6TextBytesMax = 45;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || is_digit(c);
}
bool is_alnum(char c) {
  return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}
bool is_lower_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f');
}

// One path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
bool is_valid_path_component(std::string_view component) {
  size_t i = 0;
  const size_t size = component.size();
  if (size == 0 || !is_lower_alnum(component[0]))
    return false;
  while (i < size) { // bounded: each round consumes at least one byte
    while (i < size && is_lower_alnum(component[i]))
      ++i;
    if (i == size)
      return true;
    if (component[i] == '.') {
      ++i;
    } else if (component[i] == '_') {
      ++i;
      if (i < size && component[i] == '_')
        ++i; // "__" is one separator, "___" is not
    } else if (component[i] == '-') {
      while (i < size && component[i] == '-')
        ++i;
    } else {
      return false;
    }
    if (i == size || !is_lower_alnum(component[i]))
      return false; // separator needs alnum after
  }
  return true;
}

// [a-z0-9]+([+._-][a-z0-9]+)*
bool is_valid_digest_algorithm(std::string_view algorithm) {
  if (algorithm.empty() || !is_lower_alnum(algorithm.front()) ||
      !is_lower_alnum(algorithm.back())) {
    return false;
  }
  bool previous_was_separator = false;
  for (char c : algorithm) {
    const bool is_separator = c == '+' || c == '.' || c == '_' || c == '-';
    if (!is_separator && !is_lower_alnum(c))
      return false;
    if (is_separator && previous_was_separator)
      return false;
    previous_was_separator = is_separator;
  }
  return true;
}

bool is_all(std::string_view text, bool (*predicate)(char)) {
  return std::all_of(text.begin(), text.end(), predicate);
}

bool is_valid_hostname_label(std::string_view label) {
  return !label.empty() && label.size() <= kHostnameLabelBytesMax && label.front() != '-' &&
         label.back() != '-' && is_all(label, [](char c) { return is_lower_alnum(c) || c == '-'; });
}

} // namespace

bool is_valid_repository_name(std::string_view name) {
  if (name.empty() || name.size() > kRepositoryNameBytesMax)
    return false;
  while (true) { // bounded: each round removes one component and its slash
    const size_t slash = name.find('/');
    if (!is_valid_path_component(name.substr(0, slash)))
      return false;
    if (slash == std::string_view::npos)
      return true;
    name.remove_prefix(slash + 1);
  }
}

bool is_valid_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > kTagBytesMax)
    return false;
  if (!is_alnum(tag[0]) && tag[0] != '_')
    return false;
  return is_all(tag.substr(1),
                [](char c) { return is_alnum(c) || c == '_' || c == '.' || c == '-'; });
}

bool is_valid_digest(std::string_view digest) {
  const size_t colon = digest.find(':');
  if (colon == std::string_view::npos)
    return false;
  const std::string_view algorithm = digest.substr(0, colon);
  const std::string_view encoded = digest.substr(colon + 1);
  if (!is_valid_digest_algorithm(algorithm) || encoded.empty())
    return false;
  if (algorithm == "sha256") {
    return encoded.size() == kSha256EncodedChars && is_all(encoded, is_lower_hex);
  }
  if (algorithm == "sha512") {
    return encoded.size() == kSha512EncodedChars && is_all(encoded, is_lower_hex);
  }
  return is_all(encoded, [](char c) { return is_alnum(c) || c == '=' || c == '_' || c == '-'; });
}

bool is_valid_hostname(std::string_view host) {
  if (host.empty() || host.size() > kHostnameBytesMax)
    return false;
  std::string_view last_label;
  while (true) { // bounded: each round removes one label and its dot
    const size_t dot = host.find('.');
    last_label = host.substr(0, dot);
    if (!is_valid_hostname_label(last_label))
      return false;
    if (dot == std::string_view::npos)
      break;
    host.remove_prefix(dot + 1);
  }
  return !is_all(last_label, is_digit);
}

bool is_valid_ipv4(std::string_view address) {
  constexpr size_t kParts = 4;
  for (size_t part = 0; part < kParts; ++part) {
    const size_t dot = address.find('.');
    if ((dot == std::string_view::npos) != (part == kParts - 1))
      return false;
    const std::string_view digits = address.substr(0, dot);
    if (digits.empty() || digits.size() > 3 || !is_all(digits, is_digit))
      return false;
    if (digits.size() > 1 && digits[0] == '0')
      return false;
    int value = 0;
    for (char c : digits)
      value = value * 10 + (c - '0');
    if (value > 255)
      return false;
    if (dot != std::string_view::npos)
      address.remove_prefix(dot + 1);
  }
  return true;
}

bool is_valid_ipv6(std::string_view address) {
  // inet_pton needs a terminated string; a stack copy avoids allocating.
  if (address.empty() || address.size() > kIpv6TextBytesMax)
    return false;
  // Only hex digits, colons and (for an embedded IPv4) dots: this refuses a zone ("%eth0") and an
  // embedded NUL that would hide the rest of the text from inet_pton.
  const auto is_ipv6_char = [](char c) {
    return is_lower_hex(c) || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
  };
  if (!is_all(address, is_ipv6_char))
    return false;
  std::array<char, kIpv6TextBytesMax + 1> terminated{};
  std::memcpy(terminated.data(), address.data(), address.size());
  in6_addr parsed{};
  return inet_pton(AF_INET6, terminated.data(), &parsed) == 1;
}

std::optional<uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5 || !is_all(text, is_digit) || text[0] == '0') {
    return std::nullopt;
  }
  uint32_t value = 0;
  for (char c : text)
    value = value * 10 + static_cast<uint32_t>(c - '0');
  if (value > 65535)
    return std::nullopt;
  return static_cast<uint16_t>(value);
}

} // namespace regcache::registry

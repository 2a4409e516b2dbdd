#include "http/ratelimit_header.h"

namespace regcache::http {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// RFC 9110 section 5.6.2 tchar.
bool is_token_char(char c) {
  if (is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
    return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

void skip_spaces(std::string_view value, size_t &at) {
  while (at < value.size() && (value[at] == ' ' || value[at] == '\t'))
    ++at;
}

// Digits only, at least one, at most kRateLimitValueMax (checked per digit: no overflow).
std::optional<uint64_t> parse_count(std::string_view value, size_t &at) {
  const size_t start = at;
  uint64_t number = 0;
  while (at < value.size() && is_digit(value[at])) {
    number = number * 10 + static_cast<uint64_t>(value[at] - '0');
    if (number > kRateLimitValueMax)
      return std::nullopt;
    ++at;
  }
  if (at == start)
    return std::nullopt;
  return number;
}

std::string_view parse_token(std::string_view value, size_t &at) {
  const size_t start = at;
  while (at < value.size() && is_token_char(value[at]))
    ++at;
  return value.substr(start, at - start);
}

// A parameter value we do not use: a token or a quoted string (RFC 9110 section 5.6.4, with
// its backslash escapes).
bool skip_parameter_value(std::string_view value, size_t &at) {
  if (at < value.size() && value[at] != '"')
    return !parse_token(value, at).empty();
  if (at >= value.size())
    return false;
  ++at; // the opening quote
  while (at < value.size()) {
    const char c = value[at++];
    if (c == '"')
      return true;
    if (c == '\\') {
      if (at >= value.size())
        return false;
      ++at;
    } else if (static_cast<unsigned char>(c) < 0x20 && c != '\t') {
      return false;
    }
  }
  return false; // unterminated
}

} // namespace

std::optional<RateLimitValue> parse_ratelimit_header(std::string_view value) {
  size_t at = 0;
  skip_spaces(value, at);
  std::optional<uint64_t> count = parse_count(value, at);
  if (!count)
    return std::nullopt;
  RateLimitValue parsed{*count, 0};
  bool window_seen = false;
  skip_spaces(value, at);
  // Bounded by the value's length: every turn consumes at least the `;`.
  while (at < value.size()) {
    if (value[at] != ';')
      return std::nullopt;
    ++at;
    skip_spaces(value, at);
    const std::string_view name = parse_token(value, at);
    if (name.empty())
      return std::nullopt;
    skip_spaces(value, at);
    if (at >= value.size() || value[at] != '=')
      return std::nullopt;
    ++at;
    skip_spaces(value, at);
    if (name == "w" || name == "W") {
      std::optional<uint64_t> window = parse_count(value, at);
      if (!window || window_seen)
        return std::nullopt;
      window_seen = true;
      parsed.window_s = *window;
    } else if (!skip_parameter_value(value, at)) {
      return std::nullopt;
    }
    skip_spaces(value, at);
  }
  return parsed;
}

} // namespace regcache::http

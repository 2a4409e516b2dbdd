#include "registry/auth/form_encoding.h"

namespace regcache::registry {

namespace {

constexpr std::string_view kUpperHexDigits = "0123456789ABCDEF";

// unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"   (RFC 3986 section 2.3)
bool is_unreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

bool is_literal_in_query_value(char c) {
  return is_unreserved(c) || c == ':' || c == '/' || c == ',' || c == '@';
}

template <typename KeepLiteral>
void append_percent_encoded(std::string &out, std::string_view text, KeepLiteral keep_literal) {
  for (const char c : text) {
    if (keep_literal(c)) {
      out += c;
      continue;
    }
    const auto byte = static_cast<unsigned char>(c);
    out += '%';
    out += kUpperHexDigits[byte >> 4];
    out += kUpperHexDigits[byte & 0x0F];
  }
}

} // namespace

std::string form_urlencode(std::span<const std::pair<std::string_view, std::string_view>> fields) {
  std::string body;
  for (const auto &[name, value] : fields) {
    if (!body.empty())
      body += '&';
    append_percent_encoded(body, name, is_unreserved);
    body += '=';
    append_percent_encoded(body, value, is_unreserved);
  }
  return body;
}

std::string url_query_escape(std::string_view value) {
  std::string escaped;
  escaped.reserve(value.size());
  append_percent_encoded(escaped, value, is_literal_in_query_value);
  return escaped;
}

} // namespace regcache::registry

#include "registry/auth/token_response.h"

#include <simdjson.h>

#include <cassert>
#include <cmath>
#include <limits>

namespace regcache::registry {

namespace {

// 18 digits always fit in int64_t; no real expiry needs more.
constexpr size_t kDecimalSecondsDigitsMax = 18;
static_assert(std::numeric_limits<int64_t>::digits10 >= int(kDecimalSecondsDigitsMax));

void set_error(std::string *error, std::string_view what) {
  if (error != nullptr)
    error->assign(what);
}

// A parsed JSON object. simdjson needs its input padded, so the text is copied once; the token
// services answer a few KiB once per token lifetime, far from any hot path.
class JsonObject {
public:
  bool parse(std::string_view json, std::string *error) {
    if (json.size() > kTokenResponseBytesMax) {
      set_error(error, "token response is larger than " + std::to_string(kTokenResponseBytesMax) +
                           " bytes");
      return false;
    }
    const simdjson::padded_string padded(json.data(), json.size());
    simdjson::dom::element root;
    // simdjson's messages describe the error class only, never the input text.
    if (const auto code = parser_.parse(padded).get(root); code != simdjson::SUCCESS) {
      set_error(error, std::string("token response is not JSON: ") + simdjson::error_message(code));
      return false;
    }
    if (root.get(object_) != simdjson::SUCCESS) {
      set_error(error, "token response is not a JSON object");
      return false;
    }
    return true;
  }

  // The member called `key`; nullopt when absent or null (treated alike: both mean "not sent").
  std::optional<simdjson::dom::element> member(std::string_view key) const {
    simdjson::dom::element element;
    if (object_[key].get(element) != simdjson::SUCCESS || element.is_null())
      return std::nullopt;
    return element;
  }

private:
  simdjson::dom::parser parser_;
  simdjson::dom::object object_;
};

// A credential goes verbatim into "Authorization: Bearer <token>"; visible ASCII only keeps a
// hostile token service from injecting CR/LF or splitting the field (RFC 9110 section 5.5).
bool is_header_safe_credential(std::string_view credential) {
  for (const char c : credential) {
    if (c < 0x21 || c > 0x7E)
      return false;
  }
  return true;
}

enum class StringField { Absent, Present, WrongType };

StringField read_string(const JsonObject &object, std::string_view key, std::string_view &out) {
  const std::optional<simdjson::dom::element> element = object.member(key);
  if (!element)
    return StringField::Absent;
  if (element->get(out) != simdjson::SUCCESS)
    return StringField::WrongType;
  return StringField::Present;
}

// A credential field of a token answer: present, a string, not empty, and safe to put in a
// header. The error names the answer (`what`) and the field.
bool read_credential(const JsonObject &object, std::string_view what, std::string_view key,
                     std::string_view &out, std::string *error) {
  const std::string prefix(what);
  const std::string name(key);
  switch (read_string(object, key, out)) {
  case StringField::Absent:
    set_error(error, prefix + " has no \"" + name + "\"");
    return false;
  case StringField::WrongType:
    set_error(error, prefix + " field \"" + name + "\" is not a string");
    return false;
  case StringField::Present:
    break;
  }
  if (out.empty()) {
    set_error(error, prefix + " \"" + name + "\" is empty");
    return false;
  }
  if (!is_header_safe_credential(out)) {
    set_error(error, prefix + " " + name + " holds bytes other than visible ASCII");
    return false;
  }
  return true;
}

// A JSON number as whole seconds, truncated toward zero and clamped to the int64_t range.
bool read_number_seconds(simdjson::dom::element element, int64_t &out) {
  int64_t signed_value = 0;
  if (element.get(signed_value) == simdjson::SUCCESS) {
    out = signed_value;
    return true;
  }
  uint64_t unsigned_value = 0;
  if (element.get(unsigned_value) == simdjson::SUCCESS) {
    out = std::numeric_limits<int64_t>::max(); // only values above INT64_MAX land here
    return true;
  }
  double double_value = 0;
  if (element.get(double_value) == simdjson::SUCCESS && std::isfinite(double_value)) {
    // 2^63 is exactly representable; anything at or past it clamps.
    constexpr double kInt64Bound = 9223372036854775808.0;
    if (double_value >= kInt64Bound)
      out = std::numeric_limits<int64_t>::max();
    else if (double_value <= -kInt64Bound)
      out = std::numeric_limits<int64_t>::min();
    else
      out = static_cast<int64_t>(double_value);
    return true;
  }
  return false;
}

// A non-negative count of seconds given as a JSON number or, as IMDS does, a string of digits.
bool read_number_or_digits_seconds(simdjson::dom::element element, int64_t &out) {
  std::string_view digits;
  if (element.get(digits) != simdjson::SUCCESS)
    return read_number_seconds(element, out) && out >= 0;
  if (digits.empty() || digits.size() > kDecimalSecondsDigitsMax)
    return false;
  int64_t value = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9')
      return false;
    value = value * 10 + (c - '0');
  }
  out = value;
  return true;
}

uint32_t clamp_token_lifetime_s(int64_t seconds) {
  if (seconds < int64_t{kTokenLifetimeMinS})
    return kTokenLifetimeMinS;
  if (seconds > int64_t{std::numeric_limits<uint32_t>::max()})
    return std::numeric_limits<uint32_t>::max();
  return static_cast<uint32_t>(seconds);
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
constexpr int64_t days_from_civil(int64_t year, unsigned month, unsigned day) {
  year -= month <= 2 ? 1 : 0;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const auto year_of_era = static_cast<unsigned>(year - era * 400);
  const unsigned day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const unsigned day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + int64_t{day_of_era} - 719468;
}
static_assert(days_from_civil(1970, 1, 1) == 0);
static_assert(days_from_civil(2000, 3, 1) == 11017);

constexpr bool is_leap_year(unsigned year) {
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

unsigned days_in_month(unsigned year, unsigned month) {
  constexpr unsigned kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  assert(month >= 1 && month <= 12);
  return month == 2 && is_leap_year(year) ? 29 : kDays[month - 1];
}

// Reads exactly `count` digits at text[pos]; advances pos.
bool read_digits(std::string_view text, size_t &pos, size_t count, unsigned &out) {
  if (text.size() - pos < count)
    return false;
  unsigned value = 0;
  for (size_t i = 0; i < count; ++i) {
    const char c = text[pos + i];
    if (c < '0' || c > '9')
      return false;
    value = value * 10 + unsigned(c - '0');
  }
  pos += count;
  out = value;
  return true;
}

bool expect_char(std::string_view text, size_t &pos, char expected) {
  if (pos == text.size() || text[pos] != expected)
    return false;
  ++pos;
  return true;
}

} // namespace

// date-time = full-date "T" full-time (RFC 3339 section 5.6); "t" and "z" are allowed too.
std::optional<int64_t> parse_rfc3339_unix_s(std::string_view text) {
  size_t pos = 0;
  unsigned year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!read_digits(text, pos, 4, year) || !expect_char(text, pos, '-') ||
      !read_digits(text, pos, 2, month) || !expect_char(text, pos, '-') ||
      !read_digits(text, pos, 2, day))
    return std::nullopt;
  if (pos == text.size() || (text[pos] != 'T' && text[pos] != 't'))
    return std::nullopt;
  ++pos;
  if (!read_digits(text, pos, 2, hour) || !expect_char(text, pos, ':') ||
      !read_digits(text, pos, 2, minute) || !expect_char(text, pos, ':') ||
      !read_digits(text, pos, 2, second))
    return std::nullopt;
  // second 60 is a leap second (RFC 3339 section 5.7); it counts as the next second's start.
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
      minute > 59 || second > 60)
    return std::nullopt;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    const size_t fraction_start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9')
      ++pos;
    if (pos == fraction_start)
      return std::nullopt;
  }
  int64_t offset_s = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const bool east = text[pos] == '+';
    ++pos;
    unsigned offset_hours = 0, offset_minutes = 0;
    if (!read_digits(text, pos, 2, offset_hours) || !expect_char(text, pos, ':') ||
        !read_digits(text, pos, 2, offset_minutes) || offset_hours > 23 || offset_minutes > 59)
      return std::nullopt;
    offset_s = int64_t{offset_hours} * 3600 + int64_t{offset_minutes} * 60;
    if (!east)
      offset_s = -offset_s;
  } else {
    return std::nullopt;
  }
  if (pos != text.size())
    return std::nullopt;
  const int64_t days = days_from_civil(year, month, day);
  // Local time is UTC plus the offset, so UTC is local time minus it.
  return days * 86400 + int64_t{hour} * 3600 + int64_t{minute} * 60 + int64_t{second} - offset_s;
}

bool parse_token_response(std::string_view json, TokenResponse &out, std::string *error) {
  JsonObject object;
  if (!object.parse(json, error))
    return false;
  TokenResponse parsed;

  // "At least one of these fields must be specified, but both may also appear"; when they
  // differ "the client's choice is undefined": we take "token", as Docker's client does.
  std::string_view token;
  std::string_view access_token;
  const StringField token_field = read_string(object, "token", token);
  const StringField access_token_field = read_string(object, "access_token", access_token);
  if (token_field == StringField::WrongType) {
    set_error(error, "token response field \"token\" is not a string");
    return false;
  }
  if (access_token_field == StringField::WrongType) {
    set_error(error, "token response field \"access_token\" is not a string");
    return false;
  }
  const std::string_view chosen = !token.empty() ? token : access_token;
  if (chosen.empty()) {
    set_error(error, "token response has no non-empty \"token\" or \"access_token\"");
    return false;
  }
  if (!is_header_safe_credential(chosen)) {
    set_error(error, "token response token holds bytes other than visible ASCII");
    return false;
  }
  parsed.token.assign(chosen);

  std::string_view refresh_token;
  switch (read_string(object, "refresh_token", refresh_token)) {
  case StringField::Absent:
    break;
  case StringField::WrongType:
    set_error(error, "token response field \"refresh_token\" is not a string");
    return false;
  case StringField::Present:
    if (!is_header_safe_credential(refresh_token)) {
      set_error(error, "token response refresh_token holds bytes other than visible ASCII");
      return false;
    }
    parsed.refresh_token.assign(refresh_token);
    break;
  }

  if (const auto expires_in = object.member("expires_in")) {
    int64_t seconds = 0;
    if (!read_number_seconds(*expires_in, seconds)) {
      set_error(error, "token response field \"expires_in\" is not a number");
      return false;
    }
    parsed.expires_in_s = clamp_token_lifetime_s(seconds);
  }

  std::string_view issued_at;
  switch (read_string(object, "issued_at", issued_at)) {
  case StringField::Absent:
    break;
  case StringField::WrongType:
    set_error(error, "token response field \"issued_at\" is not a string");
    return false;
  case StringField::Present:
    parsed.issued_at_unix_s = parse_rfc3339_unix_s(issued_at);
    if (!parsed.issued_at_unix_s) {
      set_error(error, "token response field \"issued_at\" is not an RFC 3339 date-time");
      return false;
    }
    break;
  }

  out = std::move(parsed);
  return true;
}

bool parse_acr_refresh_token_response(std::string_view json, std::string &refresh_token,
                                      std::string *error) {
  JsonObject object;
  if (!object.parse(json, error))
    return false;
  std::string_view value;
  if (!read_credential(object, "ACR exchange response", "refresh_token", value, error))
    return false;
  refresh_token.assign(value);
  return true;
}

bool parse_entra_token_response(std::string_view json, int64_t now_unix_s,
                                std::string &access_token, int64_t &expires_on_unix_s,
                                std::string *error) {
  JsonObject object;
  if (!object.parse(json, error))
    return false;
  std::string_view token;
  if (!read_credential(object, "Entra token response", "access_token", token, error))
    return false;

  int64_t expires_on = 0;
  if (const auto expires_on_field = object.member("expires_on")) {
    if (!read_number_or_digits_seconds(*expires_on_field, expires_on)) {
      set_error(error, "Entra token response field \"expires_on\" is not a count of seconds");
      return false;
    }
  } else if (const auto expires_in_field = object.member("expires_in")) {
    int64_t expires_in = 0;
    if (!read_number_or_digits_seconds(*expires_in_field, expires_in)) {
      set_error(error, "Entra token response field \"expires_in\" is not a count of seconds");
      return false;
    }
    if (__builtin_add_overflow(now_unix_s, expires_in, &expires_on)) {
      set_error(error, "Entra token response field \"expires_in\" is out of range");
      return false;
    }
  } else {
    set_error(error, "Entra token response has neither \"expires_on\" nor \"expires_in\"");
    return false;
  }

  access_token.assign(token);
  expires_on_unix_s = expires_on;
  return true;
}

} // namespace regcache::registry

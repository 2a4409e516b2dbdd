#include "registry/api/nginx_duration.h"

#include <cassert>

namespace regcache::registry {
namespace {

// In nginx's step order (ngx_parse_time's enum): each part's unit must come later than the
// previous part's.
enum class DurationUnit : uint8_t { Year, Month, Week, Day, Hour, Minute, Second, Millisecond };

constexpr uint64_t kMsPerSecond = 1000;
constexpr uint64_t kMsPerMinute = 60 * kMsPerSecond;
constexpr uint64_t kMsPerHour = 60 * kMsPerMinute;
constexpr uint64_t kMsPerDay = 24 * kMsPerHour;

constexpr uint64_t unit_ms(DurationUnit unit) {
  switch (unit) {
  case DurationUnit::Year:
    return 365 * kMsPerDay;
  case DurationUnit::Month:
    return 30 * kMsPerDay;
  case DurationUnit::Week:
    return 7 * kMsPerDay;
  case DurationUnit::Day:
    return kMsPerDay;
  case DurationUnit::Hour:
    return kMsPerHour;
  case DurationUnit::Minute:
    return kMsPerMinute;
  case DurationUnit::Second:
    return kMsPerSecond;
  case DurationUnit::Millisecond:
    return 1;
  }
  return 0;
}

// The unit starting at text[at], and how many characters it takes ("ms" is two).
struct UnitToken {
  DurationUnit unit;
  size_t length;
};

std::optional<UnitToken> unit_at(std::string_view text, size_t at) {
  assert(at < text.size());
  switch (text[at]) {
  case 'y':
    return UnitToken{DurationUnit::Year, 1};
  case 'M':
    return UnitToken{DurationUnit::Month, 1};
  case 'w':
    return UnitToken{DurationUnit::Week, 1};
  case 'd':
    return UnitToken{DurationUnit::Day, 1};
  case 'h':
    return UnitToken{DurationUnit::Hour, 1};
  case 'm':
    if (at + 1 < text.size() && text[at + 1] == 's') {
      return UnitToken{DurationUnit::Millisecond, 2};
    }
    return UnitToken{DurationUnit::Minute, 1};
  case 's':
    return UnitToken{DurationUnit::Second, 1};
  default:
    return std::nullopt;
  }
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

} // namespace

std::optional<uint64_t> parse_nginx_duration_ms(std::string_view text) {
  if (text.empty()) {
    return std::nullopt;
  }
  uint64_t total_ms = 0;
  std::optional<DurationUnit> previous_unit;
  size_t at = 0;
  // Each iteration consumes at least one digit, so the loop runs at most text.size() times.
  while (at < text.size()) {
    const size_t digits_begin = at;
    uint64_t value = 0;
    while (at < text.size() && is_digit(text[at])) {
      if (__builtin_mul_overflow(value, 10u, &value) ||
          __builtin_add_overflow(value, static_cast<uint64_t>(text[at] - '0'), &value)) {
        return std::nullopt;
      }
      ++at;
    }
    if (at == digits_begin) {
      return std::nullopt; // a unit without a number, or a character nginx does not know
    }
    uint64_t scale_ms = kMsPerSecond; // a bare trailing number: seconds, as in nginx
    if (at < text.size()) {
      const std::optional<UnitToken> token = unit_at(text, at);
      if (!token) {
        return std::nullopt;
      }
      if (previous_unit && *previous_unit >= token->unit) {
        return std::nullopt; // repeated or ascending unit ("1h1h", "30m1h"): nginx refuses both
      }
      previous_unit = token->unit;
      scale_ms = unit_ms(token->unit);
      at += token->length;
    }
    uint64_t part_ms = 0;
    if (__builtin_mul_overflow(value, scale_ms, &part_ms) ||
        __builtin_add_overflow(total_ms, part_ms, &total_ms)) {
      return std::nullopt;
    }
  }
  return total_ms;
}

} // namespace regcache::registry

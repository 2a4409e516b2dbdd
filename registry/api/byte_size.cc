#include "registry/api/byte_size.h"

#include <fmt/format.h>

#include <limits>

namespace regcache::registry {
namespace {

// Digits only (ngx_atoof); nullopt when empty or past `max`.
std::optional<uint64_t> parse_digits(std::string_view digits, uint64_t max) {
  if (digits.empty())
    return std::nullopt;
  uint64_t value = 0;
  for (char c : digits) { // bounded by the text
    if (c < '0' || c > '9')
      return std::nullopt;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (max - digit) / 10)
      return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

} // namespace

std::optional<uint64_t> parse_nginx_size_bytes(std::string_view text) {
  constexpr uint64_t kOffMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (text.empty())
    return std::nullopt;
  uint64_t scale = 1;
  switch (text.back()) {
  case 'k':
  case 'K':
    scale = uint64_t{1} << 10;
    break;
  case 'm':
  case 'M':
    scale = uint64_t{1} << 20;
    break;
  case 'g':
  case 'G':
    scale = uint64_t{1} << 30;
    break;
  default:
    break;
  }
  if (scale != 1)
    text.remove_suffix(1);
  // nginx bounds the number before scaling (max = NGX_MAX_OFF_T_VALUE / scale).
  std::optional<uint64_t> count = parse_digits(text, kOffMax / scale);
  if (!count)
    return std::nullopt;
  return *count * scale;
}

uint64_t SpaceFloor::bytes_of(uint64_t fs_total_bytes) const {
  if (!is_percent)
    return value;
  // value <= 99, so the product cannot overflow for any file system below 2^57 bytes; divide
  // first beyond that.
  if (fs_total_bytes > (uint64_t{1} << 57))
    return fs_total_bytes / 100 * value;
  return fs_total_bytes * value / 100;
}

std::optional<SpaceFloor> parse_space_floor(std::string_view text) {
  if (text.ends_with('%')) {
    text.remove_suffix(1);
    std::optional<uint64_t> percent = parse_digits(text, 99);
    if (!percent)
      return std::nullopt;
    return SpaceFloor{true, *percent};
  }
  std::optional<uint64_t> bytes = parse_nginx_size_bytes(text);
  if (!bytes)
    return std::nullopt;
  return SpaceFloor{false, *bytes};
}

std::string format_byte_size(uint64_t bytes) {
  constexpr const char *kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024)
    return fmt::format("{} bytes", bytes);
  double value = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) { // bounded by the unit list
    value /= 1024;
    ++unit;
  }
  return fmt::format("{:.1f} {}", value, kUnits[unit]);
}

} // namespace regcache::registry

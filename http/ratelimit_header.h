#pragma once
// The rate-limit fields an upstream may send with any answer: Docker Hub's `ratelimit-limit:
// 100;w=21600` and `ratelimit-remaining: 76;w=21600` (the IETF httpapi RateLimit draft's early
// form: a count, then `;`-separated parameters, `w` the window in seconds). Pure: no I/O, no
// allocation; the value is the upstream's, so anything but that shape is refused.
#include <cstdint>
#include <optional>
#include <string_view>

namespace regcache::http {

struct RateLimitValue {
  uint64_t count = 0;    // requests allowed (limit) or left (remaining) in the window
  uint64_t window_s = 0; // the `w` parameter; 0 when absent
  friend bool operator==(const RateLimitValue &, const RateLimitValue &) = default;
};

// Counts and windows above this are refused: no registry allows more, and it keeps every
// value exact in a Prometheus double.
inline constexpr uint64_t kRateLimitValueMax = uint64_t{1} << 40;

// `100`, `100;w=21600`, `76;w=21600;comment="x"` (spaces around `;` and `=` allowed, unknown
// parameters skipped). Nothing for an empty value, a sign, a non-digit, a value above
// kRateLimitValueMax, a `w` that is not a number, a second `w`, or a malformed parameter.
std::optional<RateLimitValue> parse_ratelimit_header(std::string_view value);

} // namespace regcache::http

#pragma once
// What the cache did per UTC day, for the status page: the last kDaysKept days in a fixed ring,
// and the small text form it is kept in across restarts (meta/daily-traffic). Not thread-safe:
// its owner (the server's traffic history) locks around it.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace regcache::registry {

struct DayTraffic {
  int64_t day = 0;          // days since 1970-01-01, UTC
  uint64_t lookups = 0;     // manifest and blob requests that reached the cache
  uint64_t answered = 0;    // those the cache answered itself (hit, revalidated, stale)
  uint64_t cache_bytes = 0; // body bytes sent from the cache's own copy
  uint64_t requests = 0;    // every request answered
  friend bool operator==(const DayTraffic &, const DayTraffic &) = default;
};

class DailyTraffic {
public:
  static constexpr size_t kDaysKept = 32;
  // The encoded form's bound: a header line and kDaysKept lines of five 20-digit numbers.
  static constexpr size_t kEncodedBytesMax = 64 + kDaysKept * 5 * 21;

  // Adds `delta`'s counts to its day (creating it; a day older than every kept one, once the
  // ring is full, is dropped).
  void add(const DayTraffic &delta);
  // The kept days, newest first.
  std::array<DayTraffic, kDaysKept> newest_first(size_t *count) const;
  // The counts of `day` (zero when not kept).
  DayTraffic of_day(int64_t day) const;

  std::string encode() const;
  // nullopt when `text` is not an encode() output (then the history starts empty).
  static std::optional<DailyTraffic> decode(std::string_view text);

private:
  std::array<DayTraffic, kDaysKept> days_{}; // sorted oldest first, days_used_ of them
  size_t days_used_ = 0;
};

} // namespace regcache::registry

#include "registry/serve/daily_traffic.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

namespace regcache::registry {
namespace {

constexpr std::string_view kHeader = "regcache-daily-traffic 1\n";

bool parse_number(std::string_view &text, uint64_t &out) {
  size_t start = text.find_first_not_of(' ');
  if (start == std::string_view::npos)
    return false;
  text.remove_prefix(start);
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (ec != std::errc() || end == text.data())
    return false;
  text.remove_prefix(static_cast<size_t>(end - text.data()));
  return true;
}

} // namespace

void DailyTraffic::add(const DayTraffic &delta) {
  auto found = std::find_if(days_.begin(), days_.begin() + static_cast<ptrdiff_t>(days_used_),
                            [&](const DayTraffic &kept) { return kept.day == delta.day; });
  if (found == days_.begin() + static_cast<ptrdiff_t>(days_used_)) {
    if (days_used_ == days_.size()) {
      if (delta.day < days_[0].day)
        return;                                                 // older than the whole window
      std::move(days_.begin() + 1, days_.end(), days_.begin()); // the oldest day leaves
      --days_used_;
    }
    // Keep the days sorted: the clock may have stepped back over midnight.
    auto at = std::find_if(days_.begin(), days_.begin() + static_cast<ptrdiff_t>(days_used_),
                           [&](const DayTraffic &kept) { return kept.day > delta.day; });
    std::move_backward(at, days_.begin() + static_cast<ptrdiff_t>(days_used_),
                       days_.begin() + static_cast<ptrdiff_t>(days_used_) + 1);
    *at = DayTraffic{delta.day, 0, 0, 0, 0};
    ++days_used_;
    found = at;
  }
  found->lookups += delta.lookups;
  found->answered += delta.answered;
  found->cache_bytes += delta.cache_bytes;
  found->requests += delta.requests;
}

std::array<DayTraffic, DailyTraffic::kDaysKept> DailyTraffic::newest_first(size_t *count) const {
  std::array<DayTraffic, kDaysKept> out{};
  std::reverse_copy(days_.begin(), days_.begin() + static_cast<ptrdiff_t>(days_used_), out.begin());
  *count = days_used_;
  return out;
}

DayTraffic DailyTraffic::of_day(int64_t day) const {
  for (size_t i = 0; i < days_used_; ++i) {
    if (days_[i].day == day)
      return days_[i];
  }
  return DayTraffic{day, 0, 0, 0, 0};
}

std::string DailyTraffic::encode() const {
  std::string text(kHeader);
  for (size_t i = 0; i < days_used_; ++i) {
    const DayTraffic &day = days_[i];
    fmt::format_to(std::back_inserter(text), "{} {} {} {} {}\n", day.day, day.lookups, day.answered,
                   day.cache_bytes, day.requests);
  }
  return text;
}

std::optional<DailyTraffic> DailyTraffic::decode(std::string_view text) {
  if (!text.starts_with(kHeader) || text.size() > kEncodedBytesMax)
    return std::nullopt;
  text.remove_prefix(kHeader.size());
  DailyTraffic traffic;
  while (!text.empty()) { // bounded: each turn consumes a line or fails
    size_t end = text.find('\n');
    if (end == std::string_view::npos)
      return std::nullopt;
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end + 1);
    uint64_t day = 0;
    DayTraffic parsed;
    if (!parse_number(line, day) || !parse_number(line, parsed.lookups) ||
        !parse_number(line, parsed.answered) || !parse_number(line, parsed.cache_bytes) ||
        !parse_number(line, parsed.requests) || !line.empty())
      return std::nullopt;
    if (traffic.days_used_ > 0 &&
        static_cast<int64_t>(day) <= traffic.days_[traffic.days_used_ - 1].day)
      return std::nullopt; // encode() writes each day once, oldest first
    if (traffic.days_used_ == kDaysKept || parsed.answered > parsed.lookups)
      return std::nullopt;
    parsed.day = static_cast<int64_t>(day);
    traffic.days_[traffic.days_used_++] = parsed;
  }
  return traffic;
}

} // namespace regcache::registry

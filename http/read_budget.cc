#include "http/read_budget.h"

#include <algorithm>
#include <cassert>

namespace regcache::http {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

uint64_t whole_ms(ReadBudget::Duration duration) {
  return static_cast<uint64_t>(std::max<int64_t>(0, duration_cast<milliseconds>(duration).count()));
}

} // namespace

void ReadBudget::restart() {
  silent_ = {};
  window_waited_ = {};
  window_bytes_ = 0;
}

uint32_t ReadBudget::next_wait_ms(uint32_t cap_ms) const {
  assert(limits_.silence_ms_max > 0);
  uint64_t wait_ms =
      limits_.silence_ms_max - std::min<uint64_t>(whole_ms(silent_), limits_.silence_ms_max - 1);
  if (limits_.min_bytes_per_s > 0 && limits_.rate_window_ms > 0) {
    uint64_t window_left_ms =
        limits_.rate_window_ms -
        std::min<uint64_t>(whole_ms(window_waited_), limits_.rate_window_ms - 1);
    wait_ms = std::min(wait_ms, window_left_ms);
  }
  if (cap_ms > 0)
    wait_ms = std::min<uint64_t>(wait_ms, cap_ms);
  assert(wait_ms >= 1 && wait_ms <= UINT32_MAX);
  return static_cast<uint32_t>(wait_ms);
}

ReadBudget::Verdict ReadBudget::account(uint64_t bytes, Duration waited) {
  waited = std::max(waited, Duration{});
  silent_ = bytes > 0 ? Duration{} : silent_ + waited;
  window_waited_ += waited;
  window_bytes_ += bytes;
  if (bytes == 0 && whole_ms(silent_) >= limits_.silence_ms_max)
    return Verdict::Silent;
  if (limits_.min_bytes_per_s == 0 || limits_.rate_window_ms == 0)
    return Verdict::Continue;
  const uint64_t window_ms = whole_ms(window_waited_);
  if (window_ms < limits_.rate_window_ms)
    return Verdict::Continue;
  // bytes / seconds < floor, without division: bytes * 1000 < floor * ms (no overflow: bytes of
  // one window stay far below 2^54).
  const bool too_slow = window_bytes_ * 1000 < uint64_t{limits_.min_bytes_per_s} * window_ms;
  if (too_slow) {
    slow_window_bytes_ = window_bytes_;
    slow_window_ms_ = window_ms;
    return Verdict::TooSlow;
  }
  window_waited_ = {};
  window_bytes_ = 0;
  return Verdict::Continue;
}

} // namespace regcache::http

#pragma once
// How long an upstream response may take: the limits on its reads, kept apart from the I/O so
// they can be tested with made-up clocks. Two limits, both on time spent waiting for the
// upstream (never on time the reader spent elsewhere, such as a relay waiting for a slow
// client):
//   - silence: the longest wait without a byte (--upstream-read-timeout-ms), counted across
//     reads that the caller cut short on purpose;
//   - a rate floor (--upstream-min-bytes-per-s over --upstream-rate-window-ms): a response
//     whose bytes in one window of waiting fall below the floor is cut, so an upstream that
//     trickles a byte a second cannot keep a download open for hours.
// A floor averaged over a window was chosen over a total deadline scaled by size because a
// blob's size is not always known up front (chunked bodies), a large layer on a slow but
// healthy link needs a long time in all, and a floor catches a trickle within one window
// whatever the size.
#include <chrono>
#include <cstdint>

namespace regcache::http {

struct ReadLimits {
  uint32_t silence_ms_max = 60000;
  uint32_t min_bytes_per_s = 0; // 0: no rate floor
  uint32_t rate_window_ms = 60000;
};

class ReadBudget {
public:
  using Duration = std::chrono::steady_clock::duration;
  enum class Verdict : uint8_t {
    Continue, // within the limits
    Silent,   // no byte for silence_ms_max
    TooSlow,  // fewer than min_bytes_per_s over the last rate window
  };

  explicit ReadBudget(ReadLimits limits) : limits_(limits) {}
  const ReadLimits &limits() const { return limits_; }

  // A new response: nothing waited yet.
  void restart();
  // The longest the next read may wait: the rest of the silence budget, the rest of the rate
  // window (the floor is judged when the window ends, not at the next byte), and `cap_ms` when
  // not 0. At least 1 ms.
  uint32_t next_wait_ms(uint32_t cap_ms) const;
  // Counts a read that waited `waited` and brought `bytes` (0 when it timed out).
  Verdict account(uint64_t bytes, Duration waited);

  // What the last TooSlow verdict measured, for the log line.
  uint64_t slow_window_bytes() const { return slow_window_bytes_; }
  uint64_t slow_window_ms() const { return slow_window_ms_; }

private:
  ReadLimits limits_;
  Duration silent_{};        // waited since the last byte
  Duration window_waited_{}; // waited in the current rate window
  uint64_t window_bytes_ = 0;
  uint64_t slow_window_bytes_ = 0;
  uint64_t slow_window_ms_ = 0;
};

} // namespace regcache::http

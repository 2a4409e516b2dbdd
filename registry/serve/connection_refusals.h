#pragma once
// Connections turned away at accept: past the connection cap with no idle connection to close,
// past the per-client limit, or when the process has no fd left. Each gets `503` with
// `Retry-After` and an OCI TOOMANYREQUESTS body, then a graceful close; the worker logs the
// refusals once per interval with their counts, never one line per connection (a flood would
// otherwise flood the log too). One per worker, owned by its WorkerContext.
#include <linux/time_types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <string_view>

#include "core/log_sink.h"
#include "core/operation.h"
#include "core/task.h"

namespace regcache::registry {

enum class RefusalReason : uint8_t {
  ConnectionCap, // --connections-max reached and no idle keep-alive connection to close
  PerClientCap,  // --connections-per-client-max reached by the client's address
  OutOfFds,      // accept failed with EMFILE/ENFILE; the listener's reserve fd took the client
};
inline constexpr size_t kRefusalReasonCount = 3;

class ConnectionRefusals {
public:
  // At most one line per this interval; the first refusal after a quiet interval is logged
  // at once.
  static constexpr uint32_t kReportIntervalMs = 10'000;
  // The Retry-After sent: a second, as regcache's other 503s.
  static constexpr uint32_t kRetryAfterSeconds = 1;

  ConnectionRefusals(core::LogSink &log, unsigned worker_index, uint32_t connections_max,
                     uint32_t per_client_max, uint32_t in_flight_max);
  ConnectionRefusals(const ConnectionRefusals &) = delete;
  ConnectionRefusals &operator=(const ConnectionRefusals &) = delete;

  // Answers `fd` with 503 and closes it (the fd is the refusal's from here on). Up to
  // `in_flight_max` refusals wait for the client's request and close gracefully; past that,
  // the answer is sent and the fd closed at once.
  void refuse(int fd, RefusalReason reason);

  uint32_t in_flight() const { return in_flight_; }
  unsigned worker_index() const { return worker_index_; }
  // Shutdown: the counts not reported yet go to the log now and the timer is cancelled.
  void stop();

private:
  core::Task<void> refuse_detached(int fd, RefusalReason reason);
  void count(RefusalReason reason);
  void report(bool periodic);
  void arm_timer();
  static void on_timer(core::Operation &op, int32_t result, uint32_t flags);
  std::string_view answer(RefusalReason reason) const;

  core::LogSink *log_; // a pointer, so the class stays standard-layout for offsetof
  unsigned worker_index_;
  uint32_t connections_max_;
  uint32_t per_client_max_;
  uint32_t in_flight_max_;
  uint32_t in_flight_ = 0;
  std::array<uint64_t, kRefusalReasonCount> unreported_{};
  uint64_t answered_at_once_ = 0; // past in_flight_max_, unreported
  std::chrono::steady_clock::time_point period_start_{};
  bool timer_armed_ = false;
  bool stopping_ = false;
  core::Operation timer_op_{.kind = core::OpKind::Callback};
  __kernel_timespec timer_timeout_{}; // read by the kernel: lives here
  // The two answers, built once: the same bytes for every refused connection.
  std::array<char, 512> cap_answer_{};
  size_t cap_answer_bytes_ = 0;
  std::array<char, 512> per_client_answer_{};
  size_t per_client_answer_bytes_ = 0;
};

} // namespace regcache::registry

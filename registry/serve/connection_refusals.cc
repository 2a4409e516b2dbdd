#include "registry/serve/connection_refusals.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cassert>
#include <cstring>
#include <span>

#include "core/bounded_format.h"
#include "core/byte_stream.h"
#include "core/io_ops.h"
#include "core/ring.h"
#include "http/head_writer.h"
#include "registry/api/oci_error.h"

namespace regcache::registry {
namespace {

using Clock = std::chrono::steady_clock;

// A refused client gets this long to take the answer; it fits any socket buffer, so only a
// client that is gone makes the send wait at all.
constexpr uint32_t kAnswerSendTimeoutMs = 1000;
// After the answer: read what the client sent (its request) before closing, for at most
// kDrainReadsMax reads of kDrainReadTimeoutMs each, so the close is a FIN, not a reset that
// could destroy the answer on its way (RFC 9112 section 9.6).
constexpr int kDrainReadsMax = 8;
constexpr uint32_t kDrainReadTimeoutMs = 250;

size_t build_answer(std::array<char, 512> &out, std::string_view message, uint32_t retry_after_s) {
  std::array<char, 256> body;
  size_t body_bytes = format_oci_error(body, OciErrorCode::TooManyRequests, message);
  http::HeadWriter head(out);
  head.status_line(503);
  head.header("Docker-Distribution-API-Version", "registry/2.0");
  head.header("Content-Type", "application/json");
  head.header_uint("Content-Length", body_bytes);
  head.header_uint("Retry-After", retry_after_s);
  head.header("Connection", "close");
  head.end();
  assert(!head.overflowed() && head.size() + body_bytes <= out.size());
  size_t head_bytes = head.size();
  std::memcpy(out.data() + head_bytes, body.data(), body_bytes);
  return head_bytes + body_bytes;
}

} // namespace

ConnectionRefusals::ConnectionRefusals(core::LogSink &log, unsigned worker_index,
                                       uint32_t connections_max, uint32_t per_client_max,
                                       uint32_t in_flight_max)
    : log_(&log), worker_index_(worker_index), connections_max_(connections_max),
      per_client_max_(per_client_max), in_flight_max_(in_flight_max) {
  timer_op_.on_cqe = &ConnectionRefusals::on_timer;
  cap_answer_bytes_ =
      build_answer(cap_answer_, "regcache has too many connections; retry", kRetryAfterSeconds);
  per_client_answer_bytes_ = build_answer(
      per_client_answer_, "too many connections from this address; retry", kRetryAfterSeconds);
}

std::string_view ConnectionRefusals::answer(RefusalReason reason) const {
  switch (reason) {
  case RefusalReason::ConnectionCap:
  case RefusalReason::OutOfFds:
    return std::string_view(cap_answer_.data(), cap_answer_bytes_);
  case RefusalReason::PerClientCap:
    return std::string_view(per_client_answer_.data(), per_client_answer_bytes_);
  }
  return {};
}

void ConnectionRefusals::refuse(int fd, RefusalReason reason) {
  assert(fd >= 0);
  count(reason);
  if (in_flight_ >= in_flight_max_) {
    // Every refusal slot is draining (each holds an fd the budget counted), so this one is
    // answered without waiting, with plain non-blocking syscalls: the answer fits the empty
    // socket buffer, and what the client has sent so far is read before the close, so the
    // close is a FIN. Only a request still on its way then meets a reset, and Linux keeps the
    // answer readable for the client even so.
    answered_at_once_++;
    std::string_view bytes = answer(reason);
    ::send(fd, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_WR);
    std::array<char, 512> sink;
    for (int turn = 0; turn < kDrainReadsMax; ++turn) {
      if (::recv(fd, sink.data(), sink.size(), MSG_DONTWAIT) <= 0)
        break;
    }
    ::close(fd);
    return;
  }
  in_flight_++;
  core::spawn(refuse_detached(fd, reason));
}

core::Task<void> ConnectionRefusals::refuse_detached(int fd, RefusalReason reason) {
  std::string_view bytes = answer(reason);
  int rc = co_await core::send_all(fd, std::span<const char>(bytes.data(), bytes.size()),
                                   kAnswerSendTimeoutMs);
  if (rc == 0) {
    co_await core::shutdown(fd, SHUT_WR);
    std::array<char, 512> sink; // in the frame: the kernel writes it until the recv ends
    for (int turn = 0; turn < kDrainReadsMax; ++turn) {
      int32_t got = co_await core::recv(fd, sink, kDrainReadTimeoutMs);
      if (got <= 0)
        break;
    }
  }
  co_await core::close(fd);
  assert(in_flight_ > 0);
  in_flight_--;
}

void ConnectionRefusals::count(RefusalReason reason) {
  unreported_[static_cast<size_t>(reason)]++;
  if (timer_armed_ || stopping_)
    return;
  // The first refusal after a quiet interval is reported at once; the ones that follow wait
  // for the timer, so lines come at least kReportIntervalMs apart.
  report(false);
  arm_timer();
}

void ConnectionRefusals::report(bool periodic) {
  uint64_t cap = unreported_[static_cast<size_t>(RefusalReason::ConnectionCap)];
  uint64_t per_client = unreported_[static_cast<size_t>(RefusalReason::PerClientCap)];
  uint64_t no_fd = unreported_[static_cast<size_t>(RefusalReason::OutOfFds)];
  uint64_t total = cap + per_client + no_fd;
  if (total == 0)
    return;
  std::array<char, 96> period{};
  std::string_view since;
  if (periodic) {
    auto elapsed_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - period_start_).count();
    since = core::format_bounded(period, " in the last {}.{} s", elapsed_ms / 1000,
                                 (elapsed_ms % 1000) / 100);
  }
  std::array<char, 128> cap_text{};
  std::array<char, 128> per_client_text{};
  std::array<char, 128> no_fd_text{};
  std::array<char, 128> at_once_text{};
  std::string_view cap_part =
      cap == 0 ? std::string_view()
               : core::format_bounded(cap_text,
                                      "; {} at the connection cap ({} per worker, "
                                      "none idle)",
                                      cap, connections_max_);
  std::string_view per_client_part =
      per_client == 0 ? std::string_view()
                      : core::format_bounded(per_client_text, "; {} over the per-client limit ({})",
                                             per_client, per_client_max_);
  std::string_view no_fd_part =
      no_fd == 0 ? std::string_view()
                 : core::format_bounded(no_fd_text, "; {} with no fd left (RLIMIT_NOFILE)", no_fd);
  std::string_view at_once_part =
      answered_at_once_ == 0
          ? std::string_view()
          : core::format_bounded(at_once_text, "; {} answered without waiting (every slot busy)",
                                 answered_at_once_);
  std::array<char, 640> text;
  log_->append_message(core::format_bounded(
      text, "worker {}: refused {} connection{} with 503{}{}{}{}{}", worker_index_, total,
      total == 1 ? "" : "s", since, cap_part, per_client_part, no_fd_part, at_once_part));
  unreported_ = {};
  answered_at_once_ = 0;
  period_start_ = Clock::now();
}

void ConnectionRefusals::arm_timer() {
  assert(!timer_armed_);
  timer_armed_ = true;
  timer_timeout_ = core::to_timespec(kReportIntervalMs);
  io_uring_sqe *sqe = core::Ring::current().get_sqe();
  io_uring_prep_timeout(sqe, &timer_timeout_, 0, 0);
  io_uring_sqe_set_data(sqe, &timer_op_);
}

void ConnectionRefusals::on_timer(core::Operation &op, int32_t, uint32_t) {
  // The owner is found from its embedded operation by member offset, not by lookup.
  auto *self = reinterpret_cast<ConnectionRefusals *>(reinterpret_cast<char *>(&op) -
                                                      offsetof(ConnectionRefusals, timer_op_));
  self->timer_armed_ = false;
  if (self->stopping_)
    return;
  bool pending = false;
  for (uint64_t count : self->unreported_)
    pending |= count > 0;
  if (!pending)
    return; // quiet: the next refusal is reported at once
  self->report(true);
  self->arm_timer();
}

void ConnectionRefusals::stop() {
  if (stopping_)
    return;
  stopping_ = true;
  report(true);
  if (timer_armed_) {
    io_uring_sqe *sqe = core::Ring::current().get_sqe();
    io_uring_prep_timeout_remove(sqe, reinterpret_cast<uint64_t>(&timer_op_), 0);
    io_uring_sqe_set_data64(sqe, 0); // fire and forget; the timer's own CQE ends it
  }
}

} // namespace regcache::registry

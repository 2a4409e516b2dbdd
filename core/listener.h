#pragma once
// A listening socket with one multishot accept armed on the worker's ring. Every accepted fd
// goes to the callback; when the kernel ends the multishot (a CQE without IORING_CQE_F_MORE)
// the accept is re-armed unless the listener is stopping.
//
// Out of file descriptors (EMFILE/ENFILE), accepting again at once would fail at once, and the
// clients would wait in the backlog with no answer. So the listener keeps one reserve fd open:
// on EMFILE it closes the reserve, accepts one client into its slot and hands it over marked
// `fds_exhausted` (the owner answers it 503 and closes it), then waits a little before
// re-arming, and reopens the reserve when it re-arms. So running out of fds neither spins the
// loop nor stops the listener, and each waiting client is told why.
#include <linux/time_types.h>

#include <cstdint>

#include "core/operation.h"
#include "core/ring.h"

namespace regcache::core {

class Listener {
public:
  using OnAccept = void (*)(void *context, int client_fd, bool fds_exhausted);

  Listener(int listen_fd, OnAccept on_accept, void *context)
      : listen_fd_(listen_fd), on_accept_(on_accept), context_(context) {}
  ~Listener();
  Listener(const Listener &) = delete;
  Listener &operator=(const Listener &) = delete;

  void start();
  // Stops accepting: cancels the multishot accept and closes the socket once it has ended.
  void stop();
  bool stopped() const { return stopping_ && !armed_ && !backing_off_; }

  // Accept failures seen (EMFILE and the like), for tests and the log.
  uint64_t accept_failures() const { return accept_failures_; }
  uint64_t reserve_accepts() const { return reserve_accepts_; }

private:
  static void on_cqe(Operation &op, int32_t result, uint32_t flags);
  static void on_backoff(Operation &op, int32_t result, uint32_t flags);
  void arm();
  // Out of file descriptors: accepting again at once would fail at once (the connection stays
  // in the backlog), so wait a little before re-arming instead of spinning.
  void back_off();
  // Frees the reserve fd's slot for one client from the backlog (EMFILE only).
  void accept_into_reserve();
  void open_reserve();

  Operation op_{.kind = OpKind::Callback};
  Operation cancel_op_{.kind = OpKind::Callback};
  Operation backoff_op_{.kind = OpKind::Callback};
  __kernel_timespec backoff_timeout_{0, 100 * 1000 * 1000}; // read by the kernel: lives here
  bool backing_off_ = false;
  uint64_t accept_failures_ = 0;
  uint64_t reserve_accepts_ = 0;
  int listen_fd_;
  int reserve_fd_ = -1;
  OnAccept on_accept_;
  void *context_;
  bool armed_ = false;
  bool stopping_ = false;
};

} // namespace regcache::core

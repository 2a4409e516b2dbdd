#pragma once
// A listening socket with one multishot accept armed on the worker's ring. Every accepted fd
// goes to the callback; when the kernel ends the multishot (a CQE without IORING_CQE_F_MORE)
// the accept is re-armed unless the listener is stopping.
#include <linux/time_types.h>

#include <cstdint>

#include "core/operation.h"
#include "core/ring.h"

namespace regcache::core {

class Listener {
public:
  using OnAccept = void (*)(void *context, int client_fd);

  Listener(int listen_fd, OnAccept on_accept, void *context)
      : listen_fd_(listen_fd), on_accept_(on_accept), context_(context) {}
  Listener(const Listener &) = delete;
  Listener &operator=(const Listener &) = delete;

  void start();
  // Stops accepting: cancels the multishot accept and closes the socket once it has ended.
  void stop();
  bool stopped() const { return stopping_ && !armed_ && !backing_off_; }

private:
  static void on_cqe(Operation &op, int32_t result, uint32_t flags);
  static void on_backoff(Operation &op, int32_t result, uint32_t flags);
  void arm();
  // Out of file descriptors: accepting again at once would fail at once (the connection stays
  // in the backlog), so wait a little before re-arming instead of spinning.
  void back_off();

  Operation op_{.kind = OpKind::Callback};
  Operation cancel_op_{.kind = OpKind::Callback};
  Operation backoff_op_{.kind = OpKind::Callback};
  __kernel_timespec backoff_timeout_{0, 100 * 1000 * 1000}; // read by the kernel: lives here
  bool backing_off_ = false;
  uint64_t accept_failures_ = 0;
  int listen_fd_;
  OnAccept on_accept_;
  void *context_;
  bool armed_ = false;
  bool stopping_ = false;
};

} // namespace regcache::core

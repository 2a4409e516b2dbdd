#include "core/listener.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdio>
#include <cstring>

namespace regcache::core {

Listener::~Listener() {
  if (reserve_fd_ >= 0)
    ::close(reserve_fd_);
}

void Listener::start() {
  op_.on_cqe = &Listener::on_cqe;
  backoff_op_.on_cqe = &Listener::on_backoff;
  cancel_op_.on_cqe = [](Operation &, int32_t, uint32_t) {};
  arm();
}

void Listener::open_reserve() {
  // A plain open, once at start and once per EMFILE episode: it never blocks (/dev/null).
  if (reserve_fd_ < 0)
    reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void Listener::arm() {
  assert(!armed_);
  open_reserve(); // fails while fds are still short; the next EMFILE then only backs off
  io_uring_sqe *sqe = Ring::current().get_sqe();
  io_uring_prep_multishot_accept(sqe, listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  io_uring_sqe_set_data(sqe, &op_);
  armed_ = true;
}

void Listener::stop() {
  if (stopping_)
    return;
  stopping_ = true;
  if (backing_off_)
    return; // the back-off timer closes the socket when it fires
  if (!armed_) {
    ::close(listen_fd_);
    return;
  }
  io_uring_sqe *sqe = Ring::current().get_sqe();
  io_uring_prep_cancel(sqe, &op_, 0);
  io_uring_sqe_set_data(sqe, &cancel_op_);
}

void Listener::accept_into_reserve() {
  if (reserve_fd_ < 0)
    return;
  ::close(reserve_fd_);
  reserve_fd_ = -1;
  // A plain accept4 on the non-blocking socket: the ring's accept has just failed, and this
  // runs at most once per back-off interval.
  int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0)
    return; // the backlog was empty after all; the reserve is reopened when we re-arm
  reserve_accepts_++;
  on_accept_(context_, fd, true);
}

void Listener::on_cqe(Operation &op, int32_t result, uint32_t flags) {
  // The listener is found from its embedded operation by member offset, not by lookup.
  auto *self =
      reinterpret_cast<Listener *>(reinterpret_cast<char *>(&op) - offsetof(Listener, op_));
  if (result >= 0) {
    if (self->stopping_) {
      ::close(result); // raced with stop(): nobody will serve it
    } else {
      self->on_accept_(self->context_, result, false);
    }
  } else if (result != -ECANCELED && result != -EINTR) {
    // EMFILE/ENFILE/ENOMEM: the kernel ends the multishot; the client waits in the backlog.
    // Logged on the first failure and every 100th after, not on every retry.
    if (self->accept_failures_++ % 100 == 0) {
      // snprintf + write, not fmt: this runs with every fd in use, and the sanitizer build's
      // check of fmt's polymorphic buffer opens a pipe, fails, and reports a false bad vptr.
      char line[128];
      int length =
          std::snprintf(line, sizeof(line), "regcache: accept: %s (%llu failures so far)\n",
                        strerror(-result), static_cast<unsigned long long>(self->accept_failures_));
      if (length > 0) {
        ssize_t written =
            ::write(STDERR_FILENO, line, std::min(static_cast<size_t>(length), sizeof(line) - 1));
        (void)written; // a log line that cannot be written is dropped
      }
    }
  }
  if (!(flags & IORING_CQE_F_MORE)) {
    self->armed_ = false;
    if (self->stopping_) {
      ::close(self->listen_fd_);
    } else if (result == -EMFILE || result == -ENFILE || result == -ENOMEM || result == -ENOBUFS) {
      if (result == -EMFILE || result == -ENFILE)
        self->accept_into_reserve();
      self->back_off();
    } else {
      self->arm();
    }
  }
}

void Listener::back_off() {
  assert(!backing_off_ && !armed_);
  backing_off_ = true;
  io_uring_sqe *sqe = Ring::current().get_sqe();
  io_uring_prep_timeout(sqe, &backoff_timeout_, 0, 0);
  io_uring_sqe_set_data(sqe, &backoff_op_);
}

void Listener::on_backoff(Operation &op, int32_t, uint32_t) {
  auto *self =
      reinterpret_cast<Listener *>(reinterpret_cast<char *>(&op) - offsetof(Listener, backoff_op_));
  self->backing_off_ = false;
  if (self->stopping_) {
    ::close(self->listen_fd_);
  } else {
    self->arm();
  }
}

} // namespace regcache::core

#include "core/listener.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cassert>
#include <cstddef>
#include <cstring>

namespace regcache::core {

void Listener::start() {
  op_.on_cqe = &Listener::on_cqe;
  cancel_op_.on_cqe = [](Operation&, int32_t, uint32_t) {};
  arm();
}

void Listener::arm() {
  assert(!armed_);
  io_uring_sqe* sqe = Ring::current().get_sqe();
  io_uring_prep_multishot_accept(sqe, listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  io_uring_sqe_set_data(sqe, &op_);
  armed_ = true;
}

void Listener::stop() {
  if (stopping_) return;
  stopping_ = true;
  if (!armed_) {
    ::close(listen_fd_);
    return;
  }
  io_uring_sqe* sqe = Ring::current().get_sqe();
  io_uring_prep_cancel(sqe, &op_, 0);
  io_uring_sqe_set_data(sqe, &cancel_op_);
}

void Listener::on_cqe(Operation& op, int32_t result, uint32_t flags) {
  // The listener is found from its embedded operation by member offset, not by lookup.
  auto* self = reinterpret_cast<Listener*>(reinterpret_cast<char*>(&op) - offsetof(Listener, op_));
  if (result >= 0) {
    if (self->stopping_) {
      ::close(result);  // raced with stop(): nobody will serve it
    } else {
      self->on_accept_(self->context_, result);
    }
  } else if (result != -ECANCELED && result != -EINTR) {
    // EMFILE/ENFILE/ENOMEM: the kernel ends the multishot; it is re-armed below, and the client
    // waits in the backlog meanwhile.
    fmt::print(stderr, "regcache: accept: {}\n", strerror(-result));
  }
  if (!(flags & IORING_CQE_F_MORE)) {
    self->armed_ = false;
    if (self->stopping_) {
      ::close(self->listen_fd_);
    } else {
      self->arm();
    }
  }
}

}  // namespace regcache::core

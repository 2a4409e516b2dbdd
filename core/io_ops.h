#pragma once
// Awaitable ring operations. Each awaitable lives in the awaiting coroutine's frame and embeds
// its Operation, so submitting allocates nothing, and the frame cannot be destroyed while the
// SQE is in flight: the coroutine is suspended until the last CQE of the operation arrives.
// Everything the kernel reads after submission (paths, sockaddrs, timespecs) must live in the
// caller's frame or in the awaitable until then.
//
// Results are raw CQE results: >= 0 on success, -errno on failure. A timed operation that hit
// its deadline returns -ETIME.
#include <liburing.h>
#include <poll.h>
#include <sys/socket.h>

#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <span>

#include "core/operation.h"
#include "core/ring.h"

namespace regcache::core {

inline __kernel_timespec to_timespec(uint32_t timeout_ms) {
  return __kernel_timespec{static_cast<long long>(timeout_ms / 1000),
                           static_cast<long long>(timeout_ms % 1000) * 1000000LL};
}

template <typename Prep> class RingAwait {
public:
  RingAwait(Prep prep, uint32_t timeout_ms) : prep_(prep), timeout_ms_(timeout_ms) {}
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> waiter) {
    Ring &ring = Ring::current();
    op_.waiter = waiter;
    if (timeout_ms_ == 0) {
      op_.pending = 1;
      io_uring_sqe *sqe = ring.get_sqe();
      prep_(sqe);
      io_uring_sqe_set_data(sqe, &op_);
      return;
    }
    // Take both SQEs of the chain before preparing either (a submit in between would send the
    // main SQE with IO_LINK and no timeout after it).
    ring.reserve_sqes(2);
    io_uring_sqe *sqe = ring.get_sqe();
    io_uring_sqe *timeout_sqe = ring.get_sqe();
    prep_(sqe);
    sqe->flags |= IOSQE_IO_LINK;
    io_uring_sqe_set_data(sqe, &op_);
    timeout_ = to_timespec(timeout_ms_);
    io_uring_prep_link_timeout(timeout_sqe, &timeout_, 0);
    io_uring_sqe_set_data64(timeout_sqe, reinterpret_cast<uint64_t>(&op_) |
                                             static_cast<uint64_t>(CqeTag::LinkedTimeout));
    op_.pending = 2;
  }
  int32_t await_resume() const noexcept {
    if (op_.timed_out && op_.result == -ECANCELED)
      return -ETIME;
    return op_.result;
  }

private:
  Prep prep_;
  uint32_t timeout_ms_;
  __kernel_timespec timeout_{};
  Operation op_;
};

template <typename Prep> RingAwait<Prep> ring_op(Prep prep, uint32_t timeout_ms = 0) {
  return RingAwait<Prep>(prep, timeout_ms);
}

// --- sockets ---
inline auto recv(int fd, std::span<char> buffer, uint32_t timeout_ms = 0, int flags = 0) {
  return ring_op(
      [=](io_uring_sqe *sqe) { io_uring_prep_recv(sqe, fd, buffer.data(), buffer.size(), flags); },
      timeout_ms);
}
inline auto send(int fd, std::span<const char> bytes, uint32_t timeout_ms = 0, int flags = 0) {
  return ring_op(
      [=](io_uring_sqe *sqe) {
        io_uring_prep_send(sqe, fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | flags);
      },
      timeout_ms);
}
// `message` and the iovecs it points to are read after submission: they live in the caller's
// frame until the operation completes.
inline auto sendmsg(int fd, const msghdr *message, uint32_t timeout_ms = 0) {
  return ring_op([=](io_uring_sqe *sqe) { io_uring_prep_sendmsg(sqe, fd, message, MSG_NOSIGNAL); },
                 timeout_ms);
}
inline auto connect(int fd, const sockaddr *address, socklen_t length, uint32_t timeout_ms) {
  return ring_op([=](io_uring_sqe *sqe) { io_uring_prep_connect(sqe, fd, address, length); },
                 timeout_ms);
}
inline auto socket(int domain, int type, int protocol) {
  return ring_op([=](io_uring_sqe *sqe) { io_uring_prep_socket(sqe, domain, type, protocol, 0); });
}
inline auto shutdown(int fd, int how) {
  return ring_op([=](io_uring_sqe *sqe) { io_uring_prep_shutdown(sqe, fd, how); });
}
// Waits until `fd` is ready for `events` (POLLIN/POLLOUT). Splice into a non-blocking socket
// does not wait for room by itself (it returns -EAGAIN), so the splice path polls first.
inline auto poll(int fd, unsigned events, uint32_t timeout_ms = 0) {
  return ring_op([=](io_uring_sqe *sqe) { io_uring_prep_poll_add(sqe, fd, events); }, timeout_ms);
}
inline auto splice(int fd_in, int64_t offset_in, int fd_out, int64_t offset_out, uint32_t bytes,
                   uint32_t timeout_ms = 0) {
  return ring_op(
      [=](io_uring_sqe *sqe) {
        io_uring_prep_splice(sqe, fd_in, offset_in, fd_out, offset_out, bytes, SPLICE_F_MOVE);
      },
      timeout_ms);
}

// --- files ---
inline auto openat(int dir_fd, const char *path, int flags, mode_t mode) {
  return ring_op([=](io_uring_sqe *sqe) { io_uring_prep_openat(sqe, dir_fd, path, flags, mode); });
}
inline auto read(int fd, std::span<char> buffer, uint64_t offset) {
  return ring_op([=](io_uring_sqe *sqe) {
    io_uring_prep_read(sqe, fd, buffer.data(), buffer.size(), offset);
  });
}
inline auto write(int fd, std::span<const char> bytes, uint64_t offset) {
  return ring_op(
      [=](io_uring_sqe *sqe) { io_uring_prep_write(sqe, fd, bytes.data(), bytes.size(), offset); });
}
// Punches holes (FALLOC_FL_PUNCH_HOLE) or reserves space, as fallocate(2).
inline auto fallocate(int fd, int mode, uint64_t offset, uint64_t length) {
  return ring_op([=](io_uring_sqe *sqe) {
    io_uring_prep_fallocate(sqe, fd, mode, static_cast<off_t>(offset), static_cast<off_t>(length));
  });
}
inline auto fsync(int fd) {
  return ring_op([=](io_uring_sqe *sqe) { io_uring_prep_fsync(sqe, fd, 0); });
}
inline auto renameat(int old_dir_fd, const char *old_path, int new_dir_fd, const char *new_path) {
  return ring_op([=](io_uring_sqe *sqe) {
    io_uring_prep_renameat(sqe, old_dir_fd, old_path, new_dir_fd, new_path, 0);
  });
}
inline auto unlinkat(int dir_fd, const char *path, int flags = 0) {
  return ring_op([=](io_uring_sqe *sqe) { io_uring_prep_unlinkat(sqe, dir_fd, path, flags); });
}
inline auto mkdirat(int dir_fd, const char *path, mode_t mode) {
  return ring_op([=](io_uring_sqe *sqe) { io_uring_prep_mkdirat(sqe, dir_fd, path, mode); });
}
inline auto statx(int dir_fd, const char *path, int flags, unsigned mask, struct statx *out) {
  return ring_op(
      [=](io_uring_sqe *sqe) { io_uring_prep_statx(sqe, dir_fd, path, flags, mask, out); });
}
inline auto close(int fd) {
  return ring_op([=](io_uring_sqe *sqe) { io_uring_prep_close(sqe, fd); });
}

// Sleeps for `ms` milliseconds on the ring. Returns -ETIME when the time has passed.
class SleepAwait {
public:
  explicit SleepAwait(uint32_t ms) : timeout_(to_timespec(ms)) {}
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> waiter) {
    op_.waiter = waiter;
    op_.pending = 1;
    io_uring_sqe *sqe = Ring::current().get_sqe();
    io_uring_prep_timeout(sqe, &timeout_, 0, 0);
    io_uring_sqe_set_data(sqe, &op_);
  }
  int32_t await_resume() const noexcept { return op_.result; }

private:
  __kernel_timespec timeout_;
  Operation op_;
};
inline SleepAwait sleep_ms(uint32_t ms) {
  return SleepAwait(ms);
}

// An operation started now and awaited later, so the caller can do other work meanwhile (a
// fetch receives the next chunk while the kernel writes the last one; a hit reads the next file
// chunk into one pipe while the other drains to the socket). The owner must finish() every
// started operation before the PendingOp goes away (asserted): the kernel still uses the
// buffers until then.
class PendingOp {
public:
  PendingOp() = default;
  PendingOp(const PendingOp &) = delete;
  PendingOp &operator=(const PendingOp &) = delete;
  ~PendingOp() { assert(!started_ && op_.pending == 0); }

  bool started() const { return started_; }
  template <typename Prep> void start(Prep prep) {
    assert(!started_ && op_.pending == 0);
    started_ = true;
    op_.waiter = {};
    op_.pending = 1;
    io_uring_sqe *sqe = Ring::current().get_sqe();
    prep(sqe);
    io_uring_sqe_set_data(sqe, &op_);
  }
  void start_write(int fd, std::span<const char> bytes, uint64_t offset) {
    start([=](io_uring_sqe *sqe) {
      io_uring_prep_write(sqe, fd, bytes.data(), bytes.size(), offset);
    });
  }
  void start_splice(int fd_in, int64_t offset_in, int fd_out, uint32_t bytes) {
    start([=](io_uring_sqe *sqe) {
      io_uring_prep_splice(sqe, fd_in, offset_in, fd_out, -1, bytes, SPLICE_F_MOVE);
    });
  }

  class Finish {
  public:
    explicit Finish(PendingOp &owner) : owner_(owner) {}
    bool await_ready() const noexcept { return owner_.op_.pending == 0; }
    void await_suspend(std::coroutine_handle<> waiter) noexcept { owner_.op_.waiter = waiter; }
    int32_t await_resume() noexcept {
      owner_.started_ = false;
      owner_.op_.waiter = {};
      return owner_.op_.result;
    }

  private:
    PendingOp &owner_;
  };
  // The operation's result (its CQE res); call only after start().
  Finish finish() {
    assert(started_);
    return Finish(*this);
  }

private:
  Operation op_;
  bool started_ = false;
};

} // namespace regcache::core

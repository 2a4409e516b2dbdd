#include "core/ring.h"

#include <fmt/format.h>

#include <array>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "core/log_style.h"

namespace regcache::core {
namespace {

thread_local Ring *tls_current_ring = nullptr;

// Every opcode regcache submits. A kernel without one of them cannot run regcache; say which.
struct RequiredOp {
  int opcode;
  const char *name;
  const char *kernel;
};
constexpr std::array kRequiredOps = {
    RequiredOp{IORING_OP_ACCEPT, "accept", "5.5 (multishot: 5.19)"},
    RequiredOp{IORING_OP_RECV, "recv", "5.6"},
    RequiredOp{IORING_OP_SEND, "send", "5.6"},
    RequiredOp{IORING_OP_SENDMSG, "sendmsg", "5.3"},
    RequiredOp{IORING_OP_CONNECT, "connect", "5.5"},
    RequiredOp{IORING_OP_SOCKET, "socket", "5.19"},
    RequiredOp{IORING_OP_SPLICE, "splice", "5.7"},
    RequiredOp{IORING_OP_OPENAT, "openat", "5.6"},
    RequiredOp{IORING_OP_READ, "read", "5.6"},
    RequiredOp{IORING_OP_WRITE, "write", "5.6"},
    RequiredOp{IORING_OP_FSYNC, "fsync", "5.1"},
    RequiredOp{IORING_OP_RENAMEAT, "renameat", "5.11"},
    RequiredOp{IORING_OP_UNLINKAT, "unlinkat", "5.11"},
    RequiredOp{IORING_OP_CLOSE, "close", "5.6"},
    RequiredOp{IORING_OP_STATX, "statx", "5.6"},
    RequiredOp{IORING_OP_TIMEOUT, "timeout", "5.4"},
    RequiredOp{IORING_OP_LINK_TIMEOUT, "link_timeout", "5.5"},
    RequiredOp{IORING_OP_ASYNC_CANCEL, "async_cancel", "5.5"},
    RequiredOp{IORING_OP_MSG_RING, "msg_ring", "5.18"},
    RequiredOp{IORING_OP_SHUTDOWN, "shutdown", "5.11"},
    RequiredOp{IORING_OP_MKDIRAT, "mkdirat", "5.15"},
    RequiredOp{IORING_OP_POLL_ADD, "poll_add", "5.1"},
    RequiredOp{IORING_OP_FALLOCATE, "fallocate", "5.6"},
};

constexpr unsigned kCqeBatchMax = 256;

struct ReapedCqe {
  uint64_t user_data;
  int32_t result;
  uint32_t flags;
};

} // namespace

Ring::~Ring() {
  if (initialized_) {
    io_uring_queue_exit(&ring_);
    if (tls_current_ring == this)
      tls_current_ring = nullptr;
  }
}

bool Ring::init(const RingOptions &options, std::string *error) {
  assert(!initialized_);
  // Kernel 6.1 has SINGLE_ISSUER + DEFER_TASKRUN: completions are produced only when this thread
  // enters the kernel, which is exactly when our loop wants them; MSG_RING wake-ups from other
  // threads still wake a sleeping loop (ring_test checks it). Older kernels fall back.
  const unsigned attempts[] = {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
                               IORING_SETUP_COOP_TASKRUN, 0};
  int rc = -EINVAL;
  for (unsigned flags : attempts) {
    io_uring_params params{};
    params.flags = flags | IORING_SETUP_SUBMIT_ALL;
    rc = io_uring_queue_init_params(options.entries, &ring_, &params);
    if (rc == 0) {
      setup_flags_ = params.flags;
      break;
    }
    if (rc != -EINVAL)
      break;
  }
  if (rc != 0) {
    *error =
        fmt::format("io_uring_queue_init failed: {} (needs Linux 5.19 or newer)", strerror(-rc));
    return false;
  }
  initialized_ = true;
  tls_current_ring = this;

  std::unique_ptr<io_uring_probe, void (*)(io_uring_probe *)> probe(io_uring_get_probe_ring(&ring_),
                                                                    io_uring_free_probe);
  if (!probe) {
    *error = "io_uring probe failed (needs Linux 5.6 or newer)";
    return false;
  }
  for (const RequiredOp &op : kRequiredOps) {
    if (!io_uring_opcode_supported(probe.get(), op.opcode)) {
      *error =
          fmt::format("io_uring operation '{}' is not supported by this kernel (needs Linux {})",
                      op.name, op.kernel);
      return false;
    }
  }
  return true;
}

Ring &Ring::current() {
  assert(tls_current_ring != nullptr);
  return *tls_current_ring;
}

Ring *Ring::current_or_null() noexcept {
  return tls_current_ring;
}

io_uring_sqe *Ring::get_sqe() {
  // Bounded: one submit frees the whole SQ unless the kernel is out of memory.
  for (int attempt = 0; attempt < 1000; ++attempt) {
    if (io_uring_sqe *sqe = io_uring_get_sqe(&ring_))
      return sqe;
    int rc = io_uring_submit(&ring_);
    if (rc < 0 && rc != -EAGAIN && rc != -EBUSY && rc != -EINTR) {
      core::log_message(fmt::format("io_uring_submit failed: {}", strerror(-rc)));
      std::abort();
    }
  }
  core::log_message("io_uring submission queue stays full");
  std::abort();
}

void Ring::reserve_sqes(unsigned count) {
  if (io_uring_sq_space_left(&ring_) < count)
    io_uring_submit(&ring_);
  assert(io_uring_sq_space_left(&ring_) >= count);
}

void Ring::post_ready(Operation &op) noexcept {
  assert(op.next_ready == nullptr);
  if (ready_tail_ != nullptr) {
    ready_tail_->next_ready = &op;
  } else {
    ready_head_ = &op;
  }
  ready_tail_ = &op;
}

void Ring::post_remote(int target_ring_fd, Operation &op) {
  io_uring_sqe *sqe = get_sqe();
  io_uring_prep_msg_ring(sqe, target_ring_fd, 0, reinterpret_cast<uint64_t>(&op), 0);
  io_uring_sqe_set_data64(sqe, 0); // our own CQE for the message carries nothing
}

void Ring::run_ready() {
  // Bounded by what is queued now: wake-ups queued by the resumed coroutines run next turn.
  Operation *op = std::exchange(ready_head_, nullptr);
  ready_tail_ = nullptr;
  while (op != nullptr) {
    Operation *next = std::exchange(op->next_ready, nullptr);
    op->waiter.resume();
    op = next;
  }
}

void Ring::run_once(uint32_t wait_max_ms) {
  run_ready();
  int rc;
  if (ready_head_ != nullptr) {
    rc = io_uring_submit(&ring_);
  } else if (wait_max_ms == 0) {
    rc = io_uring_submit_and_wait(&ring_, 1);
  } else {
    __kernel_timespec wait{static_cast<long long>(wait_max_ms / 1000),
                           static_cast<long long>(wait_max_ms % 1000) * 1000000LL};
    io_uring_cqe *first = nullptr;
    rc = io_uring_submit_and_wait_timeout(&ring_, &first, 1, &wait, nullptr);
  }
  if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY && rc != -ETIME) {
    core::log_message(fmt::format("io_uring_submit_and_wait failed: {}", strerror(-rc)));
    std::abort();
  }
  std::array<ReapedCqe, kCqeBatchMax> batch;
  unsigned count = 0;
  unsigned head;
  io_uring_cqe *cqe;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    if (count == kCqeBatchMax)
      break;
    batch[count++] = ReapedCqe{cqe->user_data, cqe->res, cqe->flags};
  }
  io_uring_cq_advance(&ring_, count);
  for (unsigned i = 0; i < count; ++i) {
    const ReapedCqe &reaped = batch[i];
    if (reaped.user_data == 0)
      continue; // fire-and-forget SQEs (msg_ring source side, close)
    auto *op = reinterpret_cast<Operation *>(reaped.user_data & ~kCqeTagMask);
    auto tag = static_cast<CqeTag>(reaped.user_data & kCqeTagMask);
    dispatch(*op, tag, reaped.result, reaped.flags);
  }
}

void Ring::dispatch(Operation &op, CqeTag tag, int32_t result, uint32_t flags) {

  switch (op.kind) {
  case OpKind::Callback:
    op.on_cqe(op, result, flags);
    return;
  case OpKind::Resume:
    switch (tag) {
    case CqeTag::Main:
      op.result = result;
      op.cqe_flags = flags;
      break;
    case CqeTag::LinkedTimeout:
      // -ETIME: the timeout fired and cancelled the main op; -ECANCELED / -ENOENT: the main
      // op finished first. Either way the owner waits for both CQEs before resuming.
      if (result == -ETIME)
        op.timed_out = true;
      break;
    }
    assert(op.pending > 0);
    // A started-but-not-yet-awaited operation (PendingOp) has no waiter yet: the owner
    // picks the result up when it awaits.
    if (--op.pending == 0 && op.waiter)
      op.waiter.resume();
    return;
  }
}

void post_to_ring(int target_ring_fd, Operation &op) {
  if (Ring *ring = Ring::current_or_null()) {
    ring->post_remote(target_ring_fd, op);
    return;
  }
  // A thread without a worker ring (the resolver): a private ring used only to send messages.
  struct MessageRing {
    io_uring ring{};
    bool ok = io_uring_queue_init(8, &ring, 0) == 0;
    ~MessageRing() {
      if (ok)
        io_uring_queue_exit(&ring);
    }
  };
  thread_local MessageRing sender;
  assert(sender.ok);
  io_uring_sqe *sqe = io_uring_get_sqe(&sender.ring);
  io_uring_prep_msg_ring(sqe, target_ring_fd, 0, reinterpret_cast<uint64_t>(&op), 0);
  io_uring_sqe_set_data64(sqe, 0);
  io_uring_submit_and_wait(&sender.ring, 1);
  io_uring_cqe *cqe = nullptr;
  if (io_uring_peek_cqe(&sender.ring, &cqe) == 0)
    io_uring_cqe_seen(&sender.ring, cqe);
}

} // namespace regcache::core

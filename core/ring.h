#pragma once
// One io_uring per worker thread. The ring reaps completions in batches: it copies a batch of
// CQEs, advances the CQ once, and only then runs the handlers (TigerBeetle's rule: no handler
// runs while the CQ is being walked). Handlers queue SQEs; the next loop turn submits them.
#include <liburing.h>

#include <cstdint>
#include <string>

#include "core/operation.h"

namespace regcache::core {

struct RingOptions {
  unsigned entries = 1024;
};

class Ring {
public:
  Ring() = default;
  Ring(const Ring &) = delete;
  Ring &operator=(const Ring &) = delete;
  ~Ring();

  // Sets up the ring (SINGLE_ISSUER|DEFER_TASKRUN, then COOP_TASKRUN, then plain) and probes
  // every opcode regcache uses. On failure, `error` names what is missing.
  bool init(const RingOptions &options, std::string *error);

  // Never returns null: when the SQ is full it submits and takes the freed slot.
  io_uring_sqe *get_sqe();
  // Makes sure `count` SQEs can be taken without an intermediate submit, so a linked chain is
  // never split by a submit between its SQEs.
  void reserve_sqes(unsigned count);

  // Resumes `op` in this thread's loop, after the current batch (same-worker wake-ups).
  void post_ready(Operation &op) noexcept;
  // Resumes `op` on another ring's loop through IORING_OP_MSG_RING (cross-worker wake-ups).
  void post_remote(int target_ring_fd, Operation &op);

  // One loop turn: resume what is ready, submit, wait for at least one completion (at most
  // `wait_max_ms` when non-zero), then run the handlers of a batch of completions.
  void run_once(uint32_t wait_max_ms = 0);

  int fd() const { return ring_.ring_fd; }
  io_uring *raw() { return &ring_; }
  unsigned setup_flags() const { return setup_flags_; }

  // The ring of the calling worker thread (set by init on that thread).
  static Ring &current();
  static Ring *current_or_null() noexcept;

private:
  void dispatch(Operation &op, CqeTag tag, int32_t result, uint32_t flags);
  void run_ready();

  io_uring ring_{};
  bool initialized_ = false;
  unsigned setup_flags_ = 0;
  Operation *ready_head_ = nullptr;
  Operation *ready_tail_ = nullptr;
};

// Sends a wake-up to another thread's ring from any thread, including threads without a ring
// of their own (the resolver): those use a small private ring just for MSG_RING.
void post_to_ring(int target_ring_fd, Operation &op);

} // namespace regcache::core

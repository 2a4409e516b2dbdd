#pragma once
// Waiters that other workers wake. A waiter belongs to a suspended coroutine on some worker; the
// waker (any thread) takes the list under the owner's lock and wakes each waiter on its own
// ring: directly when it is the waker's ring, through IORING_OP_MSG_RING otherwise. A waiter is
// resumed only by its own ring's loop, so it is always suspended before the wake-up runs.
#include <coroutine>
#include <utility>

#include "core/operation.h"
#include "core/ring.h"

namespace regcache::core {

struct Waiter {
  Operation op;
  Ring *ring = nullptr;
  int ring_fd = -1;
  Waiter *next = nullptr;

  // Call with the owner's lock held, before suspending on it.
  void arm() {
    ring = &Ring::current();
    ring_fd = ring->fd();
    op.pending = 1;
    next = nullptr;
  }
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> handle) noexcept { op.waiter = handle; }
  void await_resume() const noexcept {}
};

class WaitList {
public:
  void push(Waiter &waiter) noexcept {
    waiter.next = head_;
    head_ = &waiter;
  }
  Waiter *take_all() noexcept { return std::exchange(head_, nullptr); }
  bool empty() const noexcept { return head_ == nullptr; }

private:
  Waiter *head_ = nullptr;
};

// Wakes every waiter of a list taken with take_all(); call without the owner's lock.
inline void wake_all(Waiter *waiter) {
  Ring *here = Ring::current_or_null();
  while (waiter != nullptr) {
    Waiter *next = waiter->next; // read before the wake: the waiter may be gone once resumed
    if (waiter->ring == here) {
      here->post_ready(waiter->op);
    } else {
      post_to_ring(waiter->ring_fd, waiter->op);
    }
    waiter = next;
  }
}

} // namespace regcache::core

#pragma once
// Coroutine frames come from a per-thread pool of size classes, so the steady state allocates
// nothing from the global heap: a frame freed by a finished request is reused by the next one.
// A frame is always freed on the thread that allocated it (a coroutine lives on one worker).
#include <cstddef>

namespace regcache::core {

void *frame_allocate(std::size_t bytes);
void frame_free(void *frame, std::size_t bytes) noexcept;

// Counters for tests and benchmarks that prove the hot path does not allocate.
struct FramePoolStats {
  std::size_t heap_allocations = 0; // frames that had to come from operator new
  std::size_t pool_hits = 0;
};
FramePoolStats frame_pool_stats() noexcept;

// Gives this thread's kept free frames back to the heap, for after a burst: the pool keeps up to
// a few thousand frames per size class for reuse, which a burst of connections fills and the
// steady state after it does not need. Returns the bytes freed.
std::size_t frame_pool_release_kept() noexcept;

} // namespace regcache::core

#include "core/frame_pool.h"

#include <array>
#include <bit>
#include <new>

namespace regcache::core {
namespace {

// Size classes 256 B .. 64 KiB in powers of two; larger frames (none expected) use the heap.
constexpr std::size_t kSmallestClassBytes = 256;
constexpr std::size_t kClassCount = 9;
constexpr std::size_t kLargestClassBytes = kSmallestClassBytes << (kClassCount - 1);
// Bound what a thread keeps after a burst: past this, freed frames go back to the heap.
constexpr std::size_t kFramesKeptPerClassMax = 4096;

struct FreeFrame {
  FreeFrame *next;
};

struct ThreadPool {
  std::array<FreeFrame *, kClassCount> heads{};
  std::array<std::size_t, kClassCount> counts{};
  FramePoolStats stats;
  std::size_t release_all() noexcept {
    std::size_t bytes = 0;
    for (std::size_t index = 0; index < kClassCount; ++index) {
      // Bounded by counts[index] <= kFramesKeptPerClassMax.
      while (FreeFrame *head = heads[index]) {
        heads[index] = head->next;
        ::operator delete(head);
        bytes += kSmallestClassBytes << index;
      }
      counts[index] = 0;
    }
    return bytes;
  }
  ~ThreadPool() { release_all(); }
};

thread_local ThreadPool tls_pool;

std::size_t class_index(std::size_t bytes) {
  std::size_t rounded = std::bit_ceil(bytes < kSmallestClassBytes ? kSmallestClassBytes : bytes);
  return static_cast<std::size_t>(std::countr_zero(rounded) -
                                  std::countr_zero(kSmallestClassBytes));
}

} // namespace

void *frame_allocate(std::size_t bytes) {
  if (bytes > kLargestClassBytes) {
    tls_pool.stats.heap_allocations++;
    return ::operator new(bytes);
  }
  std::size_t index = class_index(bytes);
  if (FreeFrame *frame = tls_pool.heads[index]) {
    tls_pool.heads[index] = frame->next;
    tls_pool.counts[index]--;
    tls_pool.stats.pool_hits++;
    return frame;
  }
  tls_pool.stats.heap_allocations++;
  return ::operator new(kSmallestClassBytes << index);
}

void frame_free(void *frame, std::size_t bytes) noexcept {
  if (bytes > kLargestClassBytes) {
    ::operator delete(frame);
    return;
  }
  std::size_t index = class_index(bytes);
  if (tls_pool.counts[index] >= kFramesKeptPerClassMax) {
    ::operator delete(frame);
    return;
  }
  auto *free_frame = static_cast<FreeFrame *>(frame);
  free_frame->next = tls_pool.heads[index];
  tls_pool.heads[index] = free_frame;
  tls_pool.counts[index]++;
}

FramePoolStats frame_pool_stats() noexcept {
  return tls_pool.stats;
}

std::size_t frame_pool_release_kept() noexcept {
  return tls_pool.release_all();
}

} // namespace regcache::core

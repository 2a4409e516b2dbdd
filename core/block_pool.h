#pragma once
// Fixed-size blocks mapped straight from the kernel, for buffers that a connection holds only
// while it reads or answers a request. mmap rather than the heap, so that what a burst takes is
// given back when it ends: a released block beyond the `kept_max` the pool keeps for reuse is
// unmapped at once, where freed heap memory would stay with the process until malloc trims it
// (and fragmentation may stop that). A block's pages are touched only as far as they are used.
// One pool per worker thread; it is not shared.
#include <cstddef>
#include <cstdint>

namespace regcache::core {

class BlockPool {
public:
  BlockPool(size_t block_bytes, uint32_t kept_max);
  ~BlockPool();
  BlockPool(const BlockPool &) = delete;
  BlockPool &operator=(const BlockPool &) = delete;

  // A block of at least block_bytes, page-aligned; nullptr when the kernel has no memory.
  void *acquire();
  void release(void *block);
  // Unmaps the blocks kept for reuse (after a burst). Returns how many.
  uint32_t release_kept();

  size_t block_bytes() const { return block_bytes_; }
  uint32_t in_use() const { return in_use_; }
  uint32_t kept() const { return kept_; }
  uint64_t maps() const { return maps_; } // blocks ever mapped: a pool miss each

private:
  struct FreeBlock {
    FreeBlock *next;
  };
  size_t block_bytes_; // rounded up to whole pages
  uint32_t kept_max_;
  FreeBlock *free_ = nullptr;
  uint32_t kept_ = 0;
  uint32_t in_use_ = 0;
  uint64_t maps_ = 0;
};

} // namespace regcache::core

#include "core/block_pool.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cassert>

namespace regcache::core {
namespace {

size_t round_to_pages(size_t bytes) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return (bytes + page - 1) / page * page;
}

} // namespace

BlockPool::BlockPool(size_t block_bytes, uint32_t kept_max)
    : block_bytes_(round_to_pages(block_bytes)), kept_max_(kept_max) {
  assert(block_bytes >= sizeof(FreeBlock));
}

BlockPool::~BlockPool() {
  assert(in_use_ == 0); // a block outliving its pool would outlive its worker
  release_kept();
}

uint32_t BlockPool::release_kept() {
  uint32_t released = 0;
  for (; free_ != nullptr && released <= kept_max_; ++released) { // at most kept_max_ kept
    FreeBlock *next = free_->next;
    ::munmap(free_, block_bytes_);
    free_ = next;
  }
  kept_ = 0;
  return released;
}

void *BlockPool::acquire() {
  if (free_ != nullptr) {
    FreeBlock *block = free_;
    free_ = block->next;
    kept_--;
    in_use_++;
    return block;
  }
  // A pool miss: only when more connections are busy at once than ever since the last burst
  // ended, not per request.
  void *block =
      ::mmap(nullptr, block_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (block == MAP_FAILED)
    return nullptr;
  maps_++;
  in_use_++;
  return block;
}

void BlockPool::release(void *block) {
  assert(block != nullptr && in_use_ > 0);
  in_use_--;
  if (kept_ >= kept_max_) {
    ::munmap(block, block_bytes_);
    return;
  }
  auto *free_block = static_cast<FreeBlock *>(block);
  free_block->next = free_;
  free_ = free_block;
  kept_++;
}

} // namespace regcache::core

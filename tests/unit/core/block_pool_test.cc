// The block pool lends page-aligned blocks, reuses what it keeps, keeps no more than its bound
// (the rest is unmapped at once), and gives everything kept back on request.
#include "core/block_pool.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace regcache::core {
namespace {

TEST(BlockPoolTest, BlocksArePageAlignedAndWholePages) {
  BlockPool pool(28000, 4);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  EXPECT_EQ(pool.block_bytes() % page, 0u);
  EXPECT_GE(pool.block_bytes(), 28000u);
  void *block = pool.acquire();
  ASSERT_NE(block, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(block) % page, 0u);
  std::memset(block, 0xab, pool.block_bytes()); // all of it is usable
  pool.release(block);
}

TEST(BlockPoolTest, AReleasedBlockIsReusedWithoutANewMapping) {
  BlockPool pool(4096, 4);
  void *first = pool.acquire();
  pool.release(first);
  void *second = pool.acquire();
  EXPECT_EQ(second, first);
  EXPECT_EQ(pool.maps(), 1u);
  pool.release(second);
}

TEST(BlockPoolTest, KeepsNoMoreThanItsBound) {
  BlockPool pool(4096, 2);
  std::vector<void *> blocks;
  for (int i = 0; i < 10; ++i)
    blocks.push_back(pool.acquire());
  EXPECT_EQ(pool.in_use(), 10u);
  for (void *block : blocks)
    pool.release(block);
  EXPECT_EQ(pool.in_use(), 0u);
  EXPECT_EQ(pool.kept(), 2u);
}

TEST(BlockPoolTest, ReleaseKeptUnmapsWhatItKept) {
  BlockPool pool(4096, 8);
  std::vector<void *> blocks;
  for (int i = 0; i < 5; ++i)
    blocks.push_back(pool.acquire());
  for (void *block : blocks)
    pool.release(block);
  EXPECT_EQ(pool.release_kept(), 5u);
  EXPECT_EQ(pool.kept(), 0u);
  void *again = pool.acquire(); // a fresh mapping after the burst
  EXPECT_EQ(pool.maps(), 6u);
  pool.release(again);
}

} // namespace
} // namespace regcache::core

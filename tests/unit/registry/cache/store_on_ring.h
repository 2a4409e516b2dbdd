#pragma once
// A test fixture with a real store in a temp dir and a ring that drives the store's coroutines,
// shared by the tests of the cache files that do I/O through the ring.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include "core/ring.h"
#include "core/task.h"
#include "registry/cache/blob_store.h"
#include "tests/unit/core/run_on_ring.h"

namespace regcache::registry {

class StoreOnRingTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(ring_.init(core::RingOptions{}, &error)) << error;
    char pattern[] = "/tmp/regcache-store-on-ring-test-XXXXXX"; // mkdtemp's template
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    root_ = pattern;
    ASSERT_TRUE(store_.open(root_, &error)) << error;
  }
  void TearDown() override {
    std::error_code ignored;
    if (!root_.empty())
      std::filesystem::remove_all(root_, ignored);
  }

  // Drives `task` on the ring to its end, bounded by a number of turns.
  template <typename T> T run(core::Task<T> task) {
    return core::run_on_ring(ring_, std::move(task), 1000);
  }

  std::string file_text(const std::string &relative_path) const {
    std::ifstream in(root_ + "/" + relative_path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  bool tmp_is_empty() const { return std::filesystem::is_empty(root_ + "/tmp"); }

  core::Ring ring_;
  BlobStore store_;
  std::string root_;
};

} // namespace regcache::registry

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
    std::optional<T> result;
    bool done = false;
    core::spawn([](core::Task<T> task, std::optional<T> &result, bool &done) -> core::Task<void> {
      result.emplace(co_await std::move(task));
      done = true;
    }(std::move(task), result, done));
    for (int turn = 0; turn < 1000 && !done; ++turn)
      ring_.run_once(100);
    if (!done) {
      // Its frame points into this one: returning would let it write to a dead stack.
      std::fputs("store operation did not finish in 1000 ring turns; aborting\n", stderr);
      std::abort();
    }
    return *result;
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

#pragma once
// Drives one coroutine on a ring to its end, for tests and benchmarks that call the ring's
// coroutines from plain code. Bounded by a number of ring turns; past it the process aborts,
// since the coroutine's frame points into the caller's and returning would let it write to a
// dead stack.
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <utility>

#include "core/ring.h"
#include "core/task.h"

namespace regcache::core {

template <typename T> T run_on_ring(Ring &ring, Task<T> task, int turns_max = 2000) {
  std::optional<T> result;
  bool done = false;
  spawn([](Task<T> task, std::optional<T> &result, bool &done) -> Task<void> {
    result.emplace(co_await std::move(task));
    done = true;
  }(std::move(task), result, done));
  for (int turn = 0; turn < turns_max && !done; ++turn)
    ring.run_once(100);
  if (!done) {
    std::fprintf(stderr, "coroutine did not finish in %d ring turns; aborting\n", turns_max);
    std::abort();
  }
  return std::move(*result);
}

} // namespace regcache::core

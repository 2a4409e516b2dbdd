#pragma once
// Pipes for splice (file -> pipe -> socket). One per streaming connection while it streams,
// taken from a per-worker pool and returned when the response ends. Pipes are created lazily up
// to `pipes_max`; past that, acquire() fails and the caller falls back to read + send.
#include <cstdint>
#include <vector>

namespace regcache::core {

struct Pipe {
  int read_fd = -1;
  int write_fd = -1;
  uint32_t capacity_bytes = 0;
};

class PipePool {
public:
  PipePool(uint32_t pipes_max, uint32_t pipe_bytes)
      : pipes_max_(pipes_max), pipe_bytes_(pipe_bytes) {}
  PipePool(const PipePool &) = delete;
  PipePool &operator=(const PipePool &) = delete;
  ~PipePool();

  // Returns false when the pool is exhausted or the kernel refuses a new pipe.
  bool acquire(Pipe &out);
  // A pipe that may still hold bytes (an aborted splice) must be discarded, not released.
  void release(const Pipe &pipe);
  void discard(const Pipe &pipe);

private:
  std::vector<Pipe> free_;
  uint32_t created_ = 0;
  uint32_t pipes_max_;
  uint32_t pipe_bytes_;
};

} // namespace regcache::core

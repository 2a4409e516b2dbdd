#pragma once
// Per-worker log output. Lines are appended to a fixed buffer and written to the fd (stderr) by
// a ring write, double-buffered, so a slow log consumer never blocks a worker. When both buffers
// are full, lines are dropped and counted rather than growing memory without bound.
#include <array>
#include <cstdint>
#include <string_view>

#include "core/task.h"
#include "core/wait_list.h"

namespace regcache::core {

class LogSink {
public:
  static constexpr size_t kBufferBytes = 64 * 1024;

  explicit LogSink(int fd) : fd_(fd) {}
  LogSink(const LogSink &) = delete;
  LogSink &operator=(const LogSink &) = delete;

  // Starts the flusher on the current worker's ring.
  void start();
  // Asks the flusher to write what is left and end; flushed() tells when it has.
  void stop();
  bool flushed() const { return flusher_done_; }

  // A line already in its final form (it ends in '\n'), such as an access-log record.
  void append(std::string_view line);
  // A daemon message, formatted in the process's log style (core/log_style.h).
  void append_message(std::string_view text);
  uint64_t dropped_lines() const { return dropped_lines_; }

private:
  Task<void> flush_loop();
  void wake_flusher();

  int fd_;
  std::array<std::array<char, kBufferBytes>, 2> buffers_{};
  size_t filling_ = 0; // index of the buffer lines go into
  size_t filled_bytes_ = 0;
  bool flusher_waiting_ = false;
  bool stopping_ = false;
  bool flusher_done_ = true;
  Waiter wakeup_;
  uint64_t dropped_lines_ = 0;
};

} // namespace regcache::core

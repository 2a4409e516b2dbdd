#include "core/log_sink.h"

#include <array>
#include <cstring>

#include "core/io_ops.h"
#include "core/log_style.h"

namespace regcache::core {

void LogSink::start() {
  flusher_done_ = false;
  spawn(flush_loop());
}

void LogSink::stop() {
  stopping_ = true;
  wake_flusher();
}

void LogSink::append(std::string_view line) {
  if (filled_bytes_ + line.size() > kBufferBytes) {
    dropped_lines_++;
    return;
  }
  std::memcpy(buffers_[filling_].data() + filled_bytes_, line.data(), line.size());
  filled_bytes_ += line.size();
  wake_flusher();
}

void LogSink::append_message(std::string_view text) {
  std::array<char, 1024> line;
  append(format_message_line(line, text, log_clock_now()));
}

void LogSink::wake_flusher() {
  if (!flusher_waiting_)
    return;
  flusher_waiting_ = false;
  Ring::current().post_ready(wakeup_.op);
}

Task<void> LogSink::flush_loop() {
  for (;;) {
    if (filled_bytes_ == 0) {
      if (stopping_)
        break;
      flusher_waiting_ = true;
      wakeup_.arm();
      co_await wakeup_;
      continue;
    }
    // Swap buffers: appends go to the other one while this one is written.
    size_t writing = filling_;
    size_t bytes = filled_bytes_;
    filling_ ^= 1;
    filled_bytes_ = 0;
    size_t offset = 0;
    while (offset < bytes) { // bounded: each turn writes > 0 bytes or gives up
      int32_t written = co_await write(
          fd_, std::span<const char>(buffers_[writing].data() + offset, bytes - offset), -1ULL);
      if (written <= 0)
        break;
      offset += static_cast<size_t>(written);
    }
  }
  flusher_done_ = true;
}

} // namespace regcache::core

#pragma once
// A connected byte stream: a plain socket or a TLS session over one. The HTTP layer talks to
// upstreams through this interface so one client serves http:// and https:// registries.
#include <cstdint>
#include <span>

#include "core/io_ops.h"
#include "core/task.h"

namespace regcache::core {

class ByteStream {
public:
  virtual ~ByteStream() = default;
  // > 0: bytes read; 0: orderly end of stream; < 0: -errno (-ETIME on timeout).
  virtual Task<int> read(std::span<char> buffer, uint32_t timeout_ms) = 0;
  // 0 when every byte was sent, else -errno.
  virtual Task<int> write_all(std::span<const char> bytes, uint32_t timeout_ms) = 0;
  virtual int fd() const = 0;
};

// Sends every byte of `bytes` on a socket (sends may be short under memory pressure).
inline Task<int> send_all(int fd, std::span<const char> bytes, uint32_t timeout_ms) {
  while (!bytes.empty()) {
    int32_t sent = co_await send(fd, bytes, timeout_ms);
    if (sent < 0)
      co_return sent;
    if (sent == 0)
      co_return -EPIPE;
    bytes = bytes.subspan(static_cast<size_t>(sent));
  }
  co_return 0;
}

class PlainStream final : public ByteStream {
public:
  explicit PlainStream(int fd) : fd_(fd) {}
  Task<int> read(std::span<char> buffer, uint32_t timeout_ms) override {
    co_return co_await recv(fd_, buffer, timeout_ms);
  }
  Task<int> write_all(std::span<const char> bytes, uint32_t timeout_ms) override {
    co_return co_await send_all(fd_, bytes, timeout_ms);
  }
  int fd() const override { return fd_; }

private:
  int fd_;
};

} // namespace regcache::core

#include "core/file_to_socket.h"

#include <poll.h>

#include <algorithm>
#include <array>
#include <cassert>

#include "core/byte_stream.h"
#include "core/io_ops.h"

namespace regcache::core {
namespace {

// Sends the `bytes` that are in `pipe` to the socket (splice pipe -> socket).
Task<int> drain_pipe(const FileToSocket &io, const Pipe &pipe, uint32_t bytes,
                     uint64_t *bytes_sent) {
  // Bounded: every turn sends bytes or waits (with the timeout) for room; a socket that stays
  // full for the timeout ends the loop.
  for (int stalls = 0; bytes > 0;) {
    int32_t sent = co_await splice(pipe.read_fd, -1, io.socket_fd, -1, bytes, io.timeout_ms);
    if (sent == -EAGAIN && stalls++ < 1000000) {
      // The socket buffer is full: splice into a non-blocking socket does not wait by itself.
      int32_t ready = co_await poll(io.socket_fd, POLLOUT, io.timeout_ms);
      if (ready >= 0)
        continue;
      sent = ready;
    }
    if (sent <= 0)
      co_return sent == 0 ? -EPIPE : sent;
    bytes -= static_cast<uint32_t>(sent);
    *bytes_sent += static_cast<uint64_t>(sent);
  }
  co_return 0;
}

Task<int> copy_range(const FileToSocket &io, uint64_t offset, uint64_t bytes,
                     uint64_t *bytes_sent) {
  assert(!io.copy_buffer.empty());
  while (bytes > 0) { // bounded: each turn moves at least one byte or returns
    size_t chunk = static_cast<size_t>(std::min<uint64_t>(bytes, io.copy_buffer.size()));
    int32_t got = co_await read(io.file_fd, io.copy_buffer.first(chunk), offset);
    if (got <= 0)
      co_return got == 0 ? -EIO : got;
    int rc = co_await send_all(
        io.socket_fd, std::span<const char>(io.copy_buffer.data(), static_cast<size_t>(got)),
        io.timeout_ms);
    if (rc < 0)
      co_return rc;
    *bytes_sent += static_cast<uint64_t>(got);
    offset += static_cast<uint64_t>(got);
    bytes -= static_cast<uint64_t>(got);
  }
  co_return 0;
}

} // namespace

Task<int> send_file_range(PipePool &pipes, const FileToSocket &io, uint64_t offset, uint64_t bytes,
                          uint64_t *bytes_sent) {
  if (bytes == 0)
    co_return 0; // a 0-byte splice would read as "the file is shorter than the range"
  std::array<Pipe, 2> pipe;
  size_t pipe_count = 0;
  if (pipes.acquire(pipe[0]))
    pipe_count = 1;
  if (pipe_count == 1 && bytes > pipe[0].capacity_bytes && pipes.acquire(pipe[1]))
    pipe_count = 2;
  if (pipe_count == 0)
    co_return co_await copy_range(io, offset, bytes, bytes_sent);
  // With two pipes, the next file chunk is spliced into one (in the kernel's io-wq) while the
  // other drains to the socket, so reading the file and sending overlap.
  PendingOp fill;
  std::array<uint32_t, 2> in_pipe{0, 0};
  size_t current = 0;
  uint64_t queued = 0; // bytes of the range handed to a fill so far
  int rc = 0;
  auto chunk_for = [&](size_t index) {
    return static_cast<uint32_t>(std::min<uint64_t>(bytes - queued, pipe[index].capacity_bytes));
  };
  // A fill's result: the bytes now in the pipe, or the first error of the range.
  auto filled_into = [&](size_t index, int32_t filled) {
    if (filled <= 0) {
      if (rc == 0)
        rc = filled == 0 ? -EIO : filled;
      return;
    }
    in_pipe[index] = static_cast<uint32_t>(filled);
    queued += static_cast<uint64_t>(filled);
  };
  filled_into(0, co_await splice(io.file_fd, static_cast<int64_t>(offset), pipe[0].write_fd, -1,
                                 chunk_for(0)));
  while (rc == 0 && in_pipe[current] > 0) { // each turn empties one pipe
    size_t next = current ^ 1;
    if (pipe_count == 2 && queued < bytes) {
      fill.start_splice(io.file_fd, static_cast<int64_t>(offset + queued), pipe[next].write_fd,
                        chunk_for(next));
    }
    rc = co_await drain_pipe(io, pipe[current], in_pipe[current], bytes_sent);
    if (rc == 0)
      in_pipe[current] = 0;
    if (fill.started()) {
      // Always awaited: the kernel owns the pipe until then.
      filled_into(next, co_await fill.finish());
    } else if (rc == 0 && pipe_count == 1 && queued < bytes) {
      filled_into(0, co_await splice(io.file_fd, static_cast<int64_t>(offset + queued),
                                     pipe[0].write_fd, -1, chunk_for(0)));
      next = 0;
    }
    current = next;
  }
  for (size_t i = 0; i < pipe_count; ++i) {
    // A pipe that may still hold bytes of this response cannot serve another one.
    if (in_pipe[i] == 0) {
      pipes.release(pipe[i]);
    } else {
      pipes.discard(pipe[i]);
    }
  }
  co_return rc;
}

} // namespace regcache::core

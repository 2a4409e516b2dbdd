#pragma once
// Sends a byte range of a file to a socket with splice (file -> pipe -> socket), the path every
// cached byte takes. Knows no HTTP: the caller has sent whatever precedes the bytes.
#include <cstdint>
#include <span>

#include "core/pipe_pool.h"
#include "core/task.h"

namespace regcache::core {

struct FileToSocket {
  int file_fd = -1;
  int socket_fd = -1;
  uint32_t timeout_ms = 0; // per operation: how long the socket may refuse more bytes
  // Used only when the pool has no pipe left (fd limit): the bytes are read into it and sent.
  std::span<char> copy_buffer;
};

// Sends bytes [offset, offset + bytes) of the file. Returns 0, or -errno (-EPIPE when the
// client stopped reading, -EIO when the file is shorter than the range). `*bytes_sent` counts
// what reached the socket, also on failure (on the copy path a chunk counts once sent whole).
Task<int> send_file_range(PipePool &pipes, const FileToSocket &io, uint64_t offset, uint64_t bytes,
                          uint64_t *bytes_sent);

} // namespace regcache::core

#include "core/pipe_pool.h"

#include <fcntl.h>
#include <unistd.h>

namespace regcache::core {

PipePool::~PipePool() {
  for (const Pipe &pipe : free_) {
    ::close(pipe.read_fd);
    ::close(pipe.write_fd);
  }
}

bool PipePool::acquire(Pipe &out) {
  if (!free_.empty()) {
    out = free_.back();
    free_.pop_back();
    return true;
  }
  if (created_ >= pipes_max_)
    return false;
  int fds[2];
  // Creating a pipe is a quick syscall with no ring equivalent; it happens once per pool slot.
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
    return false;
  // A bigger pipe means fewer splice round trips per blob; the kernel may cap it at
  // /proc/sys/fs/pipe-max-size, so read back what we got.
  int capacity = ::fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(pipe_bytes_));
  if (capacity < 0)
    capacity = ::fcntl(fds[1], F_GETPIPE_SZ);
  out = Pipe{fds[0], fds[1], static_cast<uint32_t>(capacity > 0 ? capacity : 65536)};
  created_++;
  if (free_.capacity() < pipes_max_)
    free_.reserve(pipes_max_);
  return true;
}

void PipePool::release(const Pipe &pipe) {
  free_.push_back(pipe);
}

void PipePool::discard(const Pipe &pipe) {
  ::close(pipe.read_fd);
  ::close(pipe.write_fd);
  created_--;
}

} // namespace regcache::core

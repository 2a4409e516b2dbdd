#pragma once
// The process's file descriptor limit (RLIMIT_NOFILE). Every client connection is one fd, so
// the soft limit, often 1024 (systemd's default, and most shells'), would stop accepting long
// before memory or the connection cap does. Raised once at start, before any worker runs.
#include <cstdint>

namespace regcache::core {

struct FdLimit {
  uint64_t soft_before = 0; // the soft limit the process was started with
  uint64_t soft = 0;        // the soft limit now
  uint64_t hard = 0;        // "unlimited" is reported as the kernel's ceiling (fs.nr_open)
  bool raised() const { return soft > soft_before; }
};

// Raises the soft limit to the hard limit (capped by /proc/sys/fs/nr_open, the most the kernel
// takes when the hard limit is "unlimited"). When the kernel refuses, the limit stays as it was.
FdLimit raise_fd_limit();

} // namespace regcache::core

#include "core/fd_limit.h"

#include <sys/resource.h>

#include <cstdio>

namespace regcache::core {
namespace {

// fs.nr_open bounds what setrlimit accepts for RLIMIT_NOFILE; 1048576 is the kernel default.
uint64_t kernel_fd_ceiling() {
  uint64_t ceiling = 1u << 20;
  if (std::FILE *file = std::fopen("/proc/sys/fs/nr_open", "r")) {
    unsigned long long value = 0;
    if (std::fscanf(file, "%llu", &value) == 1 && value > 0)
      ceiling = value;
    std::fclose(file);
  }
  return ceiling;
}

} // namespace

FdLimit raise_fd_limit() {
  FdLimit limit;
  rlimit current{};
  if (::getrlimit(RLIMIT_NOFILE, &current) != 0)
    return limit;
  limit.soft_before = current.rlim_cur;
  limit.soft = current.rlim_cur;
  limit.hard = current.rlim_max;
  uint64_t target = current.rlim_max;
  if (current.rlim_max == RLIM_INFINITY || target > kernel_fd_ceiling())
    target = kernel_fd_ceiling();
  limit.hard = target;
  if (target <= current.rlim_cur)
    return limit;
  rlimit raised = current;
  raised.rlim_cur = target;
  if (::setrlimit(RLIMIT_NOFILE, &raised) == 0)
    limit.soft = target;
  return limit;
}

} // namespace regcache::core

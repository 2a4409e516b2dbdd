#include "core/log_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace regcache::core {

bool redirect_stderr_to(const std::string &path, std::string *error) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    *error = "cannot open the log file " + path + ": " + std::strerror(errno);
    return false;
  }
  // dup2 clears FD_CLOEXEC on fd 2, as stderr should be.
  if (::dup2(fd, STDERR_FILENO) < 0) {
    *error = "cannot make " + path + " stderr: " + std::strerror(errno);
    ::close(fd);
    return false;
  }
  ::close(fd);
  return true;
}

} // namespace regcache::core

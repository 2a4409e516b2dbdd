#include "registry/cache/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "core/io_ops.h"

namespace regcache::registry {

core::Task<bool> write_file_atomically(BlobStore &store, const char *path, std::string_view bytes,
                                       bool durable) {
  StorePath temp = store.temp_path();
  int fd = co_await core::openat(store.root_fd(), temp.c_str(),
                                 O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    co_return false;
  size_t offset = 0;
  bool ok = true;
  while (offset < bytes.size()) { // bounded: each turn writes at least one byte or stops
    int32_t written = co_await core::write(
        fd, std::span<const char>(bytes.data() + offset, bytes.size() - offset), offset);
    if (written <= 0) {
      ok = false;
      break;
    }
    offset += static_cast<size_t>(written);
  }
  if (ok && durable)
    ok = co_await core::fsync(fd) == 0;
  co_await core::close(fd);
  if (ok)
    ok = co_await core::renameat(store.root_fd(), temp.c_str(), store.root_fd(), path) == 0;
  if (!ok)
    co_await core::unlinkat(store.root_fd(), temp.c_str());
  co_return ok;
}

core::Task<int> read_small_file(BlobStore &store, const char *path, std::span<char> out) {
  int fd = co_await core::openat(store.root_fd(), path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0)
    co_return fd == -ENOENT ? 0 : fd;
  int32_t got = co_await core::read(fd, out, 0);
  co_await core::close(fd);
  co_return got;
}

bool write_file_atomically_blocking(BlobStore &store, const char *path, std::string_view bytes,
                                    bool durable) {
  StorePath temp = store.temp_path();
  int fd = ::openat(store.root_fd(), temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    return false;
  size_t offset = 0;
  bool ok = true;
  while (offset < bytes.size()) { // bounded: each turn writes at least one byte or stops
    ssize_t written = ::write(fd, bytes.data() + offset, bytes.size() - offset);
    if (written < 0 && errno == EINTR)
      continue;
    if (written <= 0) {
      ok = false;
      break;
    }
    offset += static_cast<size_t>(written);
  }
  if (ok && durable)
    ok = ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  if (ok)
    ok = ::renameat(store.root_fd(), temp.c_str(), store.root_fd(), path) == 0;
  if (!ok)
    ::unlinkat(store.root_fd(), temp.c_str(), 0);
  return ok;
}

int read_small_file_blocking(BlobStore &store, const char *path, std::span<char> out) {
  int fd = ::openat(store.root_fd(), path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? 0 : -errno;
  ssize_t got = ::pread(fd, out.data(), out.size(), 0);
  int read_errno = errno;
  ::close(fd);
  return got < 0 ? -read_errno : static_cast<int>(got);
}

} // namespace regcache::registry

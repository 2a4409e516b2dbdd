#include "registry/cache/atomic_file.h"

#include <fcntl.h>

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

} // namespace regcache::registry

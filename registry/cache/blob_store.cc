#include "registry/cache/blob_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/io_ops.h"
#include "core/unix_time.h"

namespace regcache::registry {
namespace {

bool make_directory(const std::string &path, std::string *error) {
  if (::mkdir(path.c_str(), 0755) == 0 || errno == EEXIST)
    return true;
  *error = fmt::format("cannot create {}: {}", path, strerror(errno));
  return false;
}

bool make_directories(const std::string &path, std::string *error) {
  for (size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    if (!make_directory(path.substr(0, slash), error))
      return false;
  }
  return make_directory(path, error);
}

StorePath content_path(std::string_view area, const Digest &digest, std::string_view suffix = {}) {
  StorePath path;
  std::array<char, kSha256HexChars> hex;
  format_digest_hex(digest, hex);
  std::string_view hex_view(hex.data(), hex.size());
  auto result = fmt::format_to_n(path.text.data(), path.text.size() - 1, "{}/sha256/{}/{}{}", area,
                                 hex_view.substr(0, 2), hex_view, suffix);
  *result.out = '\0'; // the buffer holds the longest path: 128 > 6 + 8 + 3 + 64 + 8 + 1
  return path;
}

} // namespace

BlobStore::~BlobStore() {
  if (root_fd_ >= 0)
    ::close(root_fd_);
}

bool BlobStore::open(const std::string &cache_dir, std::string *error, IndexLoadReport *report) {
  root_ = cache_dir;
  if (!make_directories(cache_dir, error))
    return false;
  for (const char *area : {"blobs/sha256", "meta/sha256", "tmp", "tags"}) {
    if (!make_directories(cache_dir + "/" + area, error))
      return false;
  }
  // Two-hex-digit fan-out directories are made once here so the request path never mkdirs.
  for (const char *area : {"blobs/sha256/", "meta/sha256/"}) {
    for (int i = 0; i < 256; ++i) {
      if (!make_directory(fmt::format("{}/{}{:02x}", cache_dir, area, i), error))
        return false;
    }
  }
  root_fd_ = ::open(cache_dir.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (root_fd_ < 0) {
    *error = fmt::format("cannot open {}: {}", cache_dir, strerror(errno));
    return false;
  }
  // Downloads that were in progress when the last process died are garbage: nothing in tmp/ was
  // ever verified. Remove them.
  std::string tmp = cache_dir + "/tmp";
  if (DIR *dir = ::opendir(tmp.c_str())) {
    int dir_fd = ::dirfd(dir);
    while (dirent *entry = ::readdir(dir)) {
      if (entry->d_name[0] == '.')
        continue;
      ::unlinkat(dir_fd, entry->d_name, 0);
    }
    ::closedir(dir);
  }
  // Probe that the cache dir is writable now, not on the first download.
  std::string probe = tmp + "/.write-probe";
  int fd = ::open(probe.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = fmt::format("cache dir {} is not writable: {}", cache_dir, strerror(errno));
    return false;
  }
  ::close(fd);
  ::unlink(probe.c_str());
  IndexLoadReport load_report;
  if (!load_blob_index(root_fd_, index_, load_report, error))
    return false;
  if (report != nullptr)
    *report = std::move(load_report);
  return true;
}

void BlobStore::note_published(const Digest &digest, uint64_t size_bytes) {
  index_.add(digest, size_bytes, core::unix_now_s());
}

bool BlobStore::save_index(std::string *error) {
  StorePath temp = temp_path();
  return save_blob_index(root_fd_, index_, temp.c_str(), error);
}

StorePath BlobStore::blob_path(const Digest &digest) {
  return content_path("blobs", digest);
}
StorePath BlobStore::meta_path(const Digest &digest) {
  return content_path("meta", digest);
}
StorePath BlobStore::limited_path(const Digest &digest) {
  return content_path("meta", digest, ".limited");
}

StorePath BlobStore::temp_path() {
  StorePath path;
  uint64_t counter = temp_counter_.fetch_add(1, std::memory_order_relaxed);
  auto result =
      fmt::format_to_n(path.text.data(), path.text.size() - 1, "tmp/{}-{}", ::getpid(), counter);
  *result.out = '\0';
  return path;
}

core::Task<int> BlobStore::open_published(const Digest &digest, uint64_t *size_bytes) {
  StorePath path = blob_path(digest);
  int fd = co_await core::openat(root_fd_, path.c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) {
    if (fd == -ENOENT)
      index_.forget_missing(digest); // deleted by hand (the README allows it): stop counting it
    co_return fd;
  }
  struct statx stat {};
  int rc = co_await core::statx(fd, "", AT_EMPTY_PATH, STATX_SIZE | STATX_NLINK, &stat);
  // No link left: evicted or replaced between the open and now. The bytes are still readable,
  // but the evictor may be counting on them being gone; a miss costs less than a doubt.
  if (rc == 0 && stat.stx_nlink == 0)
    rc = -ENOENT;
  if (rc == 0) {
    switch (index_.check_hit(digest, stat.stx_size, core::unix_now_s())) {
    case BlobIndex::HitVerdict::Serve:
      break;
    case BlobIndex::HitVerdict::Unknown:
      // Not published through this process's index (placed by hand, or missed by the listing
      // at start): adopt it, as the directory is the truth.
      index_.add(digest, stat.stx_size, core::unix_now_s());
      break;
    case BlobIndex::HitVerdict::Withheld:
      rc = -ENOENT;
      break;
    case BlobIndex::HitVerdict::Rotten:
      // Unlinked now rather than by the evictor later: a fetch may republish the digest soon,
      // and a later unlink by name could remove the good file.
      co_await core::unlinkat(root_fd_, path.c_str());
      rc = -ENOENT;
      break;
    }
  }
  if (rc < 0) {
    co_await core::close(fd);
    co_return rc;
  }
  *size_bytes = stat.stx_size;
  co_return fd;
}

} // namespace regcache::registry

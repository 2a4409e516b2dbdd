#include "registry/cache/limited_marks.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "core/io_ops.h"
#include "registry/cache/atomic_file.h"

namespace regcache::registry {

core::Task<bool> is_marked_limited(BlobStore &store, const Digest &digest) {
  StorePath path = BlobStore::limited_path(digest);
  struct statx stat {};
  int rc = co_await core::statx(store.root_fd(), path.c_str(), 0, STATX_TYPE, &stat);
  co_return rc == 0;
}

core::Task<bool> mark_before_publish(BlobStore &store, const Digest &digest, ProvenanceMark mark) {
  if (mark != ProvenanceMark::Limited)
    co_return true;
  StorePath path = BlobStore::limited_path(digest);
  bool written = co_await write_file_atomically(store, path.c_str(), "", true);
  co_return written;
}

core::Task<void> mark_after_publish(BlobStore &store, const Digest &digest, ProvenanceMark mark) {
  if (mark != ProvenanceMark::Public)
    co_return;
  StorePath path = BlobStore::limited_path(digest);
  co_await core::unlinkat(store.root_fd(), path.c_str()); // -ENOENT: there was none
}

} // namespace regcache::registry

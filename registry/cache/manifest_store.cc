#include "registry/cache/manifest_store.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <array>

#include "core/io_ops.h"
#include "registry/cache/atomic_file.h"

namespace regcache::registry {
namespace {

constexpr size_t kMediaTypeBytesMax = 256;

} // namespace

core::Task<bool> load_manifest_media_type(BlobStore &store, const Digest &digest,
                                          std::string &out) {
  StorePath path = BlobStore::meta_path(digest);
  std::array<char, kMediaTypeBytesMax> text;
  int got = co_await read_small_file(store, path.c_str(), text);
  // A full buffer may be a cut-off type: store_manifest never writes one that long.
  if (got <= 0 || static_cast<size_t>(got) >= text.size())
    co_return false;
  out.assign(text.data(), static_cast<size_t>(got));
  co_return true;
}

core::Task<bool> store_manifest(BlobStore &store, const Digest &digest, std::string_view media_type,
                                std::string_view bytes, ProvenanceMark mark) {
  // Media types are short ("application/vnd.oci.image.index.v1+json"); one that does not fit
  // the meta file's bound is not stored, and the manifest is simply not cached.
  if (media_type.empty() || media_type.size() >= kMediaTypeBytesMax)
    co_return false;
  std::string known_type;
  bool typed = co_await load_manifest_media_type(store, digest, known_type);
  // A file the index knows as rotten or being evicted must be written again, and so must one
  // deleted by hand (the index learns that from the stat).
  if (typed && known_type == media_type && store.index().holds(digest, bytes.size())) {
    StorePath blob_path = BlobStore::blob_path(digest);
    struct statx stat {};
    int rc = co_await core::statx(store.root_fd(), blob_path.c_str(), 0, STATX_SIZE, &stat);
    if (rc == 0 && stat.stx_size == bytes.size()) {
      co_await mark_after_publish(store, digest, mark);
      co_return true;
    }
  }
  StorePath meta = BlobStore::meta_path(digest);
  bool stored = co_await write_file_atomically(store, meta.c_str(), media_type, false);
  if (!stored)
    co_return false;
  stored = co_await mark_before_publish(store, digest, mark);
  if (!stored)
    co_return false;
  StorePath blob = BlobStore::blob_path(digest);
  stored = co_await write_file_atomically(store, blob.c_str(), bytes, true);
  if (stored) {
    store.note_published(digest, bytes.size());
    co_await mark_after_publish(store, digest, mark);
  }
  co_return stored;
}

} // namespace regcache::registry

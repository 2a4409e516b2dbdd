#include "registry/cache/manifest_store.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <array>

#include "core/io_ops.h"
#include "core/unix_time.h"
#include "registry/cache/atomic_file.h"
#include "registry/cache/sha256.h"

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
      store.manifests_in_memory().put(digest, intern_media_type(media_type), bytes);
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
    store.manifests_in_memory().put(digest, intern_media_type(media_type), bytes);
  }
  co_return stored;
}

core::Task<HeldManifestRef> find_held_manifest(BlobStore &store, const Digest &digest) {
  ManifestMemory &memory = store.manifests_in_memory();
  HeldManifestRef held = memory.find(digest);
  if (!held)
    co_return nullptr;
  switch (store.index().check_hit(digest, held->bytes.size(), core::unix_now_s())) {
  case BlobIndex::HitVerdict::Serve:
    co_return held;
  case BlobIndex::HitVerdict::Unknown:  // evicted: the index forgot it
  case BlobIndex::HitVerdict::Withheld: // being evicted, or rotten
    memory.drop(digest);
    co_return nullptr;
  case BlobIndex::HitVerdict::Rotten: {
    // The held bytes hash to the digest, so the file of another size is the damaged copy:
    // unlinked at once, as open_published does (a fetch may republish the digest soon).
    memory.drop(digest);
    StorePath path = BlobStore::blob_path(digest);
    co_await core::unlinkat(store.root_fd(), path.c_str());
    co_return nullptr;
  }
  }
  co_return nullptr;
}

core::Task<HeldManifestRef> hold_stored_manifest(BlobStore &store, const Digest &digest,
                                                 bool *rotten) {
  *rotten = false;
  ManifestMemory &memory = store.manifests_in_memory();
  IndexEntryView indexed;
  // The index knows the size without a stat: a manifest too large for memory is not opened here
  // (the caller splices it from its file).
  if (!store.index().lookup(digest, indexed) || !memory.fits(indexed.size_bytes))
    co_return nullptr;
  std::string media_type;
  bool typed = co_await load_manifest_media_type(store, digest, media_type);
  if (!typed)
    co_return nullptr;
  uint64_t size_bytes = 0;
  int fd = co_await store.open_published(digest, &size_bytes);
  if (fd < 0)
    co_return nullptr;
  std::string bytes;
  if (memory.fits(size_bytes)) {
    bytes.resize(size_bytes);
    uint64_t have = 0;
    // Bounded: every turn reads at least one byte or ends.
    while (have < size_bytes) {
      int got = co_await core::read(
          fd, std::span<char>(bytes.data() + have, static_cast<size_t>(size_bytes - have)), have);
      if (got <= 0)
        break;
      have += static_cast<uint64_t>(got);
    }
    if (have != size_bytes)
      bytes.clear();
  }
  co_await core::close(fd);
  if (bytes.empty())
    co_return nullptr;
  if (sha256_of(bytes) != digest) {
    // Bit rot under a published name: never served, and removed so the next store writes it
    // again (store_manifest skips a file the index holds at the right size).
    *rotten = true;
    IndexEntryView current;
    if (store.index().lookup(digest, current) &&
        store.index().mark_rotten(digest, current.generation, RotCause::DigestOnHit, size_bytes)) {
      StorePath path = BlobStore::blob_path(digest);
      co_await core::unlinkat(store.root_fd(), path.c_str());
    }
    co_return nullptr;
  }
  memory.put(digest, intern_media_type(media_type), bytes);
  co_return memory.find(digest);
}

} // namespace regcache::registry

#pragma once
// The content-addressed store under --cache-dir, shared by all workers.
//
//   blobs/sha256/<2 hex>/<64 hex>   published, verified, immutable (blobs and manifests by digest)
//   meta/sha256/<2 hex>/<64 hex>    the media type of a manifest stored in blobs/
//   meta/sha256/<2 hex>/<64 hex>.limited   stored only through upstreams limited to some clients
//   tmp/                            downloads in progress (same file system; emptied at start)
//   tags/<upstream>/<name>/<tag>@entries   the last answers for a tag
//   blob-index                      sizes and last use of blobs/ (cache/index_file.h)
//
// The file system is the truth: a file exists under blobs/ only after its sha256 matched and it
// was fsynced and renamed there, so a crash or kill -9 can leave garbage only in tmp/. Files
// leave blobs/ only by unlink (eviction, rot), which a crash cannot leave half done.
#include <array>
#include <atomic>
#include <string>

#include "core/task.h"
#include "registry/api/digest.h"
#include "registry/cache/blob_index.h"
#include "registry/cache/index_file.h"
#include "registry/cache/manifest_memory.h"

namespace regcache::registry {

// A NUL-terminated relative path in a fixed buffer (the kernel reads it after submission, so it
// lives in the caller's frame until the operation completes).
struct StorePath {
  std::array<char, 128> text{};
  const char *c_str() const { return text.data(); }
};

class BlobStore {
public:
  BlobStore() = default;
  BlobStore(const BlobStore &) = delete;
  BlobStore &operator=(const BlobStore &) = delete;
  ~BlobStore();

  // Startup only (blocking calls are fine here): creates the layout, empties tmp/, loads the
  // index (how: `*report`, when given).
  bool open(const std::string &cache_dir, std::string *error, IndexLoadReport *report = nullptr);
  int root_fd() const { return root_fd_; }
  const std::string &root() const { return root_; }

  static StorePath blob_path(const Digest &digest);
  static StorePath meta_path(const Digest &digest);
  // The mark of content stored only through limited upstreams (cache/limited_marks.h).
  static StorePath limited_path(const Digest &digest);
  // A fresh unique name under tmp/.
  StorePath temp_path();

  // Opens the published file of `digest` (a blob or a manifest) for reading: the fd, with its
  // size in `*size_bytes`, or -errno (-ENOENT: not in the store). The caller closes the fd.
  // Records the use in the index. A file whose size is not the index's is rot: it is unlinked
  // and reported, and the caller sees -ENOENT (a miss, fetched again), never a short body.
  core::Task<int> open_published(const Digest &digest, uint64_t *size_bytes);

  // A file just renamed into blobs/ (a fetch's publish, a stored manifest).
  void note_published(const Digest &digest, uint64_t size_bytes);
  BlobIndex &index() { return index_; }
  const BlobIndex &index() const { return index_; }
  // Copies of small manifests of this store (manifest_memory.h; manifest_store.h fills them).
  ManifestMemory &manifests_in_memory() { return manifests_in_memory_; }
  // Writes blob-index (blocking: the evictor's thread or shutdown).
  bool save_index(std::string *error);

private:
  BlobIndex index_;
  ManifestMemory manifests_in_memory_;
  int root_fd_ = -1;
  std::string root_;
  std::atomic<uint64_t> temp_counter_{0};
};

} // namespace regcache::registry

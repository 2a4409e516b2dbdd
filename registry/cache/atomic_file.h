#pragma once
// Small store files written whole or not at all: the bytes go to a fresh file under tmp/ that is
// renamed into place, so a reader sees the old file or the new one, never half of one, and a
// crash leaves garbage only in tmp/ (emptied at start).
#include <string_view>

#include "core/task.h"
#include "registry/cache/blob_store.h"

namespace regcache::registry {

// Writes `bytes` to `path` (relative to the store root) atomically; with `durable`, fsync
// before the rename, for files whose name promises verified content. False on any failure,
// with nothing left behind.
core::Task<bool> write_file_atomically(BlobStore &store, const char *path, std::string_view bytes,
                                       bool durable);

// Reads a small store file whole into `out` (at most out.size() bytes); the byte count, 0 when
// the file is missing or empty, or -errno.
core::Task<int> read_small_file(BlobStore &store, const char *path, std::span<char> out);

// The same for a thread without a ring (the server's background threads), with blocking calls.
bool write_file_atomically_blocking(BlobStore &store, const char *path, std::string_view bytes,
                                    bool durable);
int read_small_file_blocking(BlobStore &store, const char *path, std::span<char> out);

} // namespace regcache::registry

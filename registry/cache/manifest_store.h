#pragma once
// Manifests in the content-addressed store: the bytes under blobs/ by their digest, and beside
// them under meta/ the media type the upstream gave, which a blob does not carry.
#include <string>
#include <string_view>

#include "core/task.h"
#include "registry/api/digest.h"
#include "registry/cache/blob_store.h"
#include "registry/cache/limited_marks.h"

namespace regcache::registry {

// The media type stored for the manifest `digest`; false when none is stored.
core::Task<bool> load_manifest_media_type(BlobStore &store, const Digest &digest, std::string &out);

// Stores manifest bytes whose sha256 is `digest` (the caller checked) with their media type.
// The type goes in first: a published manifest must never lack its type. A manifest already
// stored with the same type is not written again (content-addressed files never change); it
// stays public when it was, and a Public store makes it public.
// A stored manifest that fits the store's manifest memory is held there too.
core::Task<bool> store_manifest(BlobStore &store, const Digest &digest, std::string_view media_type,
                                std::string_view bytes, ProvenanceMark mark);

// The manifest `digest` from memory, for a hit: held (manifest_memory.h) and its file Present in
// the index (the hit is recorded there, as a file hit is). Null when not held, or when the file
// is evicted, being evicted or rotten (the memory copy is dropped then). No file is touched,
// except to unlink one whose indexed size is not the held bytes' (rot, as open_published).
core::Task<HeldManifestRef> find_held_manifest(BlobStore &store, const Digest &digest);

// Reads the stored manifest `digest` into memory, for its first hit: its file and media type,
// the bytes checked against the digest. Null when it does not fit the memory (or the memory is
// off), or is not stored; `*rotten` when the bytes do not hash to the digest (the file is then
// marked rotten and unlinked, and must not be served).
core::Task<HeldManifestRef> hold_stored_manifest(BlobStore &store, const Digest &digest,
                                                 bool *rotten);

} // namespace regcache::registry

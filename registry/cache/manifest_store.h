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
core::Task<bool> store_manifest(BlobStore &store, const Digest &digest, std::string_view media_type,
                                std::string_view bytes, ProvenanceMark mark);

} // namespace regcache::registry

#pragma once
// Which stored content came only through upstreams limited to some clients. Blobs and
// manifests are stored once by digest whichever upstream they came from; a mark beside one
// (meta/sha256/<2 hex>/<64 hex>.limited) says that no upstream open to every client has
// served it yet, so a request through such a route must not be answered from the store (it
// goes to that upstream, which shows whether the content is public there). Marks are only
// kept while some upstream is limited (Mark::Untracked otherwise).
#include "core/task.h"
#include "registry/api/digest.h"
#include "registry/cache/blob_store.h"

namespace regcache::registry {

enum class ProvenanceMark : uint8_t {
  Untracked, // no upstream is limited: nothing to record
  Limited,   // stored through a limited upstream
  Public,    // stored through an upstream open to every client
};

// True when `digest` carries the limited mark.
core::Task<bool> is_marked_limited(BlobStore &store, const Digest &digest);

// Before the content's name is published: a Limited store writes its mark durably first, so a
// crash can never leave the content published without it. False when the mark cannot be
// written (then the content must not be published).
core::Task<bool> mark_before_publish(BlobStore &store, const Digest &digest, ProvenanceMark mark);

// After publishing: a Public store removes the mark (the content is public now).
core::Task<void> mark_after_publish(BlobStore &store, const Digest &digest, ProvenanceMark mark);

} // namespace regcache::registry

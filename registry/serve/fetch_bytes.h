#pragma once
// The bytes of a running download, sent to one of its readers. Every send of a fetch's bytes
// goes through here (whole blobs and ranges alike), because a download that passes through
// uncached keeps only a window of its recent bytes (cache/blob_fetch.h): a reader whose next
// byte has left the window, before or while it was sent, cannot complete a correct response.
#include <cstdint>

#include "core/task.h"
#include "registry/cache/blob_fetch.h"
#include "registry/serve/client_connection.h"

namespace regcache::registry {

// Sends bytes [first, first + bytes) of the reader's fetch and tells the fetch they are sent.
// Returns 0, the client's -errno, or -ENODATA when the window had moved past them: then the
// response is aborted (the client is reset), so the holes a late send may have read are never
// part of a complete response.
core::Task<int> send_fetch_bytes(ClientConnection &client, BlobFetch::Reader &reader,
                                 uint64_t first, uint64_t bytes);

} // namespace regcache::registry

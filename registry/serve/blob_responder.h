#pragma once
// GET/HEAD /v2/<name>/blobs/<digest>: from the store when published, else through the single
// download of that digest (started here when none is running), streaming as it arrives. A GET
// may ask for byte ranges (RFC 9110 section 14), answered 206 from either source.
#include "core/task.h"
#include "http/message_head.h"
#include "registry/api/digest.h"
#include "registry/api/route.h"
#include "registry/serve/client_connection.h"
#include "registry/upstream/upstream_router.h"

namespace regcache::registry {

// A blob hit: answers from the stored blob when the route's digest is in the store (true), else
// sends nothing (false): the whole blob, or the ranges the request asks for. Needs no upstream.
core::Task<bool> serve_stored_blob(ClientConnection &client, const http::RequestHead &request,
                                   const Route &route);

// A blob that is not in the store: relayed (HEAD, non-sha256 digests) or fetched.
core::Task<void> respond_blob(ClientConnection &client, const http::RequestHead &head,
                              const Route &route, const UpstreamChoice &upstream);

} // namespace regcache::registry

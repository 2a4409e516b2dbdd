#pragma once
// The control endpoints regcachectl uses, under /_/control/ (not registry data: never counted
// as a manifest or blob request, never routed upstream), JSON in and out:
//   GET  /_/control/images               what the cache holds, by tag (cache_graph.h)
//   GET  /_/control/stats                hit ratio, bytes saved, disk, entries, downloads
//   GET  /_/control/blobs/<digest>       200 {"size":N} when stored, else 404 BLOB_UNKNOWN
//   POST /_/control/purge?name=N&tag=T[&ns=R] | ?name=N&digest=D[&ns=R] | ?digest=D
//                        | ?older_than_s=S   removes what was chosen (cache_purge.h)
// Only a loopback client, or a user --control-users names (authenticated as for pulls, with
// --htpasswd), may use them; anyone else gets 403 DENIED. Listing and purging read and unlink
// files, so they run on a helper thread while the worker goes on serving.
#include "core/task.h"
#include "http/message_head.h"

namespace regcache::registry {

class ClientConnection;

inline constexpr std::string_view kControlPrefix = "/_/control/";

// Answers a request whose path starts with kControlPrefix.
core::Task<void> serve_control_endpoint(ClientConnection &client, const http::RequestHead &request);

} // namespace regcache::registry

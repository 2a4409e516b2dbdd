#pragma once
// Push passthrough (--allow-push, docker-registry-proxy's ALLOW_PUSH): a push request is sent
// to the upstream it routes to, its body streamed from the client as it arrives and the answer
// streamed back, with the client's own Authorization and never regcache's credentials (the
// push path does not reach registry/auth/upstream_auth.h). The upload session's Location is
// rewritten to come back through regcache; a manifest pushed by tag makes that tag's cache
// entry stale; pushed blobs are not stored (a pull caches them).
#include "core/task.h"
#include "http/message_head.h"
#include "registry/api/push_route.h"
#include "registry/serve/client_connection.h"
#include "registry/upstream/upstream_router.h"

namespace regcache::registry {

// Relays the push `request` (routed by `route`) to `upstream`. At most config.pushes_max per
// worker at once: past it, 503 with Retry-After.
core::Task<void> relay_push(ClientConnection &client, const http::RequestHead &request,
                            const PushRoute &route, const UpstreamChoice &upstream);

// Whether a request is a push regcache relays: --allow-push, and a push method, or a GET or
// HEAD of an upload session (its status, for resuming), under /v2/.
bool is_relayed_push(const Config &config, const http::RequestHead &request);

} // namespace regcache::registry

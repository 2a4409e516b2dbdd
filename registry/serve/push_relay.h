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

// With --allow-push, a client's GET /v2/ tells it how the upstream wants pushes authenticated:
// clients such as containers/image send credentials only after the ping challenged them, so a
// ping answered 200 by regcache would leave `skopeo --dest-creds` pushing without them. The
// upstream's GET /v2/ is asked without any credentials; its 401 and challenge are relayed
// (true). Any other answer, or none, and the caller answers the ping itself (false), so pulls
// still work with the upstream down. The cost: a client with no credentials of its own, told
// of a Bearer realm, fetches an anonymous token it does not need (regcache's go upstream).
core::Task<bool> relay_upstream_challenge(ClientConnection &client, const UpstreamChoice &upstream);

// Whether a request is a push regcache relays: --allow-push, and under /v2/ a push method, a
// GET or HEAD of an upload session (its status, for resuming), or a HEAD of a blob (a
// pusher's existence check, see push_relay.cc).
bool is_relayed_push(const Config &config, const http::RequestHead &request);

} // namespace regcache::registry

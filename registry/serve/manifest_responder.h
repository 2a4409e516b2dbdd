#pragma once
// GET/HEAD /v2/<name>/manifests/<reference>.
//   By digest: content-addressed, verified, kept forever in the blob store (media type beside).
//   By tag: the answer is remembered per accepted kind and served while fresh (the TTL tiers);
//   an expired entry is revalidated with one HEAD (single flight per entry); when the upstream
//   is down, answers 5xx or 429, the last good manifest is served with "Warning: 110".
#include "core/task.h"
#include "http/message_head.h"
#include "registry/api/route.h"
#include "registry/serve/client_connection.h"
#include "registry/upstream/upstream_router.h"

namespace regcache::registry {

core::Task<void> respond_manifest(ClientConnection &client, const http::RequestHead &head,
                                  const Route &route, const UpstreamChoice &upstream);

} // namespace regcache::registry

#pragma once
// The operations endpoints beside the registry API: /livez (the process serves), /readyz (it
// should get traffic: see Server::ready), /metrics (Prometheus text format) and /_/status (the
// status page, serve/status_page.h). They are not registry data: they need no client login, but
// --allow-clients still applies.
#include "core/task.h"
#include "http/message_head.h"

namespace regcache::registry {

class ClientConnection;

// True when `request` was one of them and has been answered.
core::Task<bool> serve_ops_endpoint(ClientConnection &client, const http::RequestHead &request);

} // namespace regcache::registry

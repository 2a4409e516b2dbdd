#pragma once
// The operations endpoints beside the registry API: /livez (the process serves), /readyz (it
// should get traffic: see Server::ready), /metrics (Prometheus text format) and /_/status (the
// status page, serve/status_page.h, on the main port only). They are not registry data: they
// need no client login, but --allow-clients still applies.
#include <cstdint>

#include "core/task.h"
#include "http/message_head.h"

namespace regcache::registry {

class ClientConnection;

// Where a request came in. With --metrics-listen, /metrics is answered only on that listener
// (metrics are for an internal interface), and /livez and /readyz on both: load balancers
// probe the port they send traffic to.
enum class OpsListener : uint8_t { Main, Metrics };

// True when `request` was one of them and has been answered.
core::Task<bool> serve_ops_endpoint(ClientConnection &client, const http::RequestHead &request,
                                    OpsListener listener);

// The --metrics-listen listener's handler: the operations endpoints, and 404 for anything else
// (no registry API, no status page: nothing a client of the cache needs).
core::Task<void> handle_ops_request(ClientConnection &client, const http::RequestHead &request);

} // namespace regcache::registry

#pragma once
// Proxy mode's interception (README "Proxy mode"): a CONNECT to a registry regcache caches is
// answered by regcache itself. It sends 200, terminates the client's TLS with a leaf
// certificate for the CONNECT host signed by regcache's CA, and from then on the connection's
// requests are mirror requests routed to that registry: the same cache, credentials, tiers and
// coalescing as a mirror client gets, with the image's real name.
#include <cstdint>
#include <string_view>

#include "core/task.h"
#include "http/message_head.h"
#include "registry/serve/client_connection.h"

namespace regcache::registry {

// Answers a CONNECT that connect_is_intercepted said regcache intercepts. On success the
// connection carries TLS from here on (ClientConnection::adopt_intercepted_stream); on a
// failure it ends after this answer (or without one, when the handshake failed).
core::Task<void> intercept_connect(ClientConnection &client, std::string_view host, uint16_t port);

// A request of an intercepted connection outside the registry API (a token endpoint such as
// auth.docker.io/token, a web page of the registry's host): relayed to that host as the client
// sent it, with the client's own Authorization and never regcache's credentials, and not
// cached. GET and HEAD only; others get 405.
core::Task<void> relay_intercepted_request(ClientConnection &client,
                                           const http::RequestHead &request);

} // namespace regcache::registry

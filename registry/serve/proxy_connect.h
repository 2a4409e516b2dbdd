#pragma once
// Proxy mode's entry points on the main port (issue 13): CONNECT requests, and absolute-form
// requests (`GET http://host/...`, what HTTP_PROXY clients send) for hosts regcache does not
// serve. Both need Proxy-Authorization when --proxy-users is set; requests to the mirror API in
// origin-form never do (they have --htpasswd).
#include <cstdint>
#include <string_view>

#include "core/task.h"
#include "http/message_head.h"
#include "registry/serve/config_generation.h"

namespace regcache::registry {

class ClientConnection;

// The seam for interception: true when a CONNECT to host:port is to be answered by regcache
// itself (its TLS terminated with a leaf of regcache's CA, its requests served as registry
// traffic). Always false for now: every CONNECT is a tunnel.
bool connect_is_intercepted(const ConfigGeneration &generation, std::string_view host,
                            uint16_t port);

// A CONNECT request: proxy authentication, then interception or a tunnel (connect_tunnel.h).
core::Task<void> serve_connect(ClientConnection &client, const http::RequestHead &head);

// An absolute-form request: false when regcache serves its host itself (its own port, or an
// intercepted host), and the caller answers it as any request; true when it has been answered
// here (407 without valid proxy credentials, 501 for other hosts: plain-HTTP forwarding is not
// built yet).
core::Task<bool> answer_absolute_form(ClientConnection &client, const http::RequestHead &head);

} // namespace regcache::registry

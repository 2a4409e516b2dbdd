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

// A CONNECT request: proxy authentication, then interception (proxy_intercept.h) for the
// registries connect_is_intercepted names (registry/upstream/upstream_router.h), else a tunnel
// (connect_tunnel.h).
core::Task<void> serve_connect(ClientConnection &client, const http::RequestHead &head);

// An absolute-form request: false when it names regcache's own port, and the caller answers it
// as any request; true when it has been answered here (407 without valid proxy credentials,
// 501 for https://, else forwarded as a plain-HTTP proxy does, uncached).
core::Task<bool> answer_absolute_form(ClientConnection &client, const http::RequestHead &head);

} // namespace regcache::registry

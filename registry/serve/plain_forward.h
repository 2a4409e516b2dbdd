#pragma once
// A plain forward proxy for absolute-form requests (`GET http://host/path`, what HTTP_PROXY
// clients send for http:// URLs) to hosts regcache does not serve: the same port and address
// rules as tunnels with port 80 allowed too, the request line rewritten to origin-form, hop-by-hop
// fields and Proxy-Authorization dropped, one request per connection (Connection: close both
// ways), and the answer relayed as it comes (spliced) until the destination closes. Requests
// with a body never get here: the connection refuses those before any handler (a pull-through
// cache reads no request bodies).
#include "core/task.h"
#include "http/message_head.h"
#include "registry/serve/connect_tunnel.h"

namespace regcache::registry {

class ClientConnection;

// `target` is the authority of head.target (an http:// URI).
core::Task<void> forward_plain_request(ClientConnection &client, const http::RequestHead &head,
                                       TunnelTarget target);

} // namespace regcache::registry

#pragma once
// Proxy mode's plain-HTTP helper endpoints on the main port, as docker-registry-proxy has them:
// GET /ca.crt (regcache's CA in PEM, for clients to trust) and GET /setup/systemd (a shell
// script that makes a systemd host's Docker and containerd use regcache as their HTTPS_PROXY
// and trust its CA: `curl http://regcache:3128/setup/systemd | sh`).
#include <string>
#include <string_view>

#include "core/task.h"
#include "http/message_head.h"
#include "registry/serve/client_connection.h"

namespace regcache::registry {

// Whether `host` (a Host field value) is a plain host[:port] or [IPv6]:port that may be pasted
// into a shell script as it is: letters, digits, '.', '-', ':' and the brackets.
bool is_plain_host_field(std::string_view host);

// The setup script for a proxy at `proxy_url` (http://host:port) and a CA in PEM. Every path it
// writes is below $REGCACHE_SETUP_ROOT (default /), so it can be tried on a scratch directory.
std::string systemd_setup_script(std::string_view proxy_url, std::string_view ca_pem);

// Answers /ca.crt and /setup/systemd; false for other paths (nothing sent).
core::Task<bool> serve_proxy_setup_endpoint(ClientConnection &client,
                                            const http::RequestHead &request);

} // namespace regcache::registry

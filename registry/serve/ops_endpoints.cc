#include "registry/serve/ops_endpoints.h"

#include <string>

#include "registry/config/config.h"
#include "registry/serve/client_connection.h"
#include "registry/serve/service_probe.h"

namespace regcache::registry {

core::Task<bool> serve_ops_endpoint(ClientConnection &client, const http::RequestHead &request,
                                    OpsListener listener) {
  const ServiceProbe *probe = client.worker().service;
  if (request.path == "/livez") {
    co_await client.send_simple(200, "text/plain; charset=utf-8", "ok\n");
    co_return true;
  }
  if (probe == nullptr)
    co_return false;
  if (request.path == "/readyz") {
    std::string why;
    if (probe->ready(&why)) {
      co_await client.send_simple(200, "text/plain; charset=utf-8", "ready\n");
    } else {
      std::string body = "not ready: " + why + "\n";
      co_await client.send_simple(503, "text/plain; charset=utf-8", body);
    }
    co_return true;
  }
  if (request.path == "/_/status" && listener == OpsListener::Main) {
    std::string page = probe->status_page_html();
    co_await client.send_simple(200, "text/html; charset=utf-8", page);
    co_return true;
  }
  const bool metrics_here =
      listener == OpsListener::Metrics || client.generation().config.metrics_listen_address.empty();
  if (request.path == "/metrics" && metrics_here) {
    std::string text = probe->metrics_text();
    co_await client.send_simple(200, "text/plain; version=0.0.4; charset=utf-8", text);
    co_return true;
  }
  co_return false;
}

core::Task<void> handle_ops_request(ClientConnection &client, const http::RequestHead &request) {
  if (request.method == "GET" || request.method == "HEAD") {
    const bool answered = co_await serve_ops_endpoint(client, request, OpsListener::Metrics);
    if (answered)
      co_return;
  }
  co_await client.send_simple(404, "text/plain; charset=utf-8",
                              "not found: this listener serves /metrics, /livez and /readyz\n");
}

} // namespace regcache::registry

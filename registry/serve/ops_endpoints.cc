#include "registry/serve/ops_endpoints.h"

#include <string>

#include "registry/serve/client_connection.h"
#include "registry/serve/service_probe.h"

namespace regcache::registry {

core::Task<bool> serve_ops_endpoint(ClientConnection &client, const http::RequestHead &request) {
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
  if (request.path == "/_/status") {
    std::string page = probe->status_page_html();
    co_await client.send_simple(200, "text/html; charset=utf-8", page);
    co_return true;
  }
  if (request.path == "/metrics") {
    std::string text = probe->metrics_text();
    co_await client.send_simple(200, "text/plain; version=0.0.4; charset=utf-8", text);
    co_return true;
  }
  co_return false;
}

} // namespace regcache::registry

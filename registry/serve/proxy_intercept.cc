#include "registry/serve/proxy_intercept.h"

#include <array>
#include <memory>

#include "core/bounded_format.h"
#include "registry/api/route.h"
#include "registry/upstream/upstream_router.h"
#include "tls/leaf_certificates.h"
#include "tls/server_context.h"
#include "tls/tls_stream.h"

namespace regcache::registry {

core::Task<void> intercept_connect(ClientConnection &client, std::string_view host, uint16_t port) {
  WorkerContext &worker = client.worker();
  client.set_request_kind(RequestKind::Other);
  client.set_outcome(CacheOutcome::Pass);
  std::array<char, kRegistryHostBytesMax + 8> ns_text;
  const std::string_view ns = intercepted_ns(host, port, ns_text);
  client.set_upstream(ns);
  // Every answer but the 200 ends the connection: the client meant to speak TLS next.
  client.close_after_response();
  if (!client.received_after_request().empty()) {
    // A ClientHello sent before the 200 would have to be fed to the TLS session by hand; no
    // client does that (they wait for the answer), so it is refused rather than half-handled.
    co_await client.send_simple(400, "text/plain",
                                "regcache: bytes were sent before the CONNECT was answered\n");
    co_return;
  }
  if (worker.leaf_certificates == nullptr || worker.proxy_tls == nullptr) {
    co_await client.send_simple(503, "text/plain", "regcache: proxy mode is not ready\n");
    co_return;
  }
  std::string error;
  std::shared_ptr<const tls::LeafCertificate> leaf =
      co_await worker.leaf_certificates->get(host, &error);
  if (leaf == nullptr) {
    std::array<char, 512> line;
    worker.log.append(core::format_line_bounded(line, "proxy: no certificate for {}: {}", ns,
                                                std::string_view(error).substr(0, 300)));
    co_await client.send_simple(502, "text/plain",
                                "regcache: cannot make a certificate for this host\n");
    co_return;
  }
  if (co_await client.send_connect_established() < 0)
    co_return;
  // The connection goes on, now in TLS, for as long as the client keeps it alive.
  client.keep_alive_after_connect();
  auto stream = std::make_unique<tls::TlsStream>(*worker.proxy_tls, client.fd(), *leaf);
  const int rc = co_await stream->handshake(client.generation().config.tls_handshake_timeout_ms);
  if (rc < 0) {
    std::array<char, 512> line;
    worker.log.append(
        core::format_line_bounded(line, "proxy: TLS handshake for {} failed: {}", ns,
                                  std::string_view(stream->error_text()).substr(0, 300)));
    client.close_after_response();
    co_return;
  }
  client.adopt_intercepted_stream(std::move(stream), ns);
}

} // namespace regcache::registry

#include "registry/serve/proxy_intercept.h"

#include <array>
#include <memory>

#include "core/bounded_format.h"
#include "http/upstream_exchange.h"
#include "registry/api/route.h"
#include "registry/serve/upstream_answer.h"
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

core::Task<void> relay_intercepted_request(ClientConnection &client,
                                           const http::RequestHead &request) {
  client.set_outcome(CacheOutcome::Pass);
  if (request.method != "GET" && request.method != "HEAD") {
    static constexpr http::Header kAllow{"Allow", "GET, HEAD"};
    co_await client.send_oci_error(405, OciErrorCode::Unsupported,
                                   "regcache relays only GET and HEAD outside the registry API",
                                   std::span<const http::Header>(&kAllow, 1));
    co_return;
  }
  const ConfigGeneration &generation = client.generation();
  UpstreamChoiceRef chosen; // the intercepted host: its endpoint and TLS settings
  if (client.worker().upstream_choices.choose(generation.number, generation.config,
                                              &generation.upstream_tls, client.intercept_query(),
                                              {}, chosen) != UpstreamRefusal::None) {
    co_await send_registry_denied(client);
    co_return;
  }
  client.set_upstream(chosen->endpoint.authority);
  // What the client said, for the host it meant to reach: its own credentials (a token
  // request's Basic login) and what it accepts. Nothing of regcache's: this path never
  // reaches registry/auth/upstream_auth.h.
  std::array<http::Header, 8> forwarded;
  size_t count = collect_accept_headers(request, std::span<http::Header>(forwarded).first(6));
  if (const http::Header *authorization = request.find("Authorization"))
    forwarded[count++] = *authorization;
  if (const http::Header *agent = request.find("User-Agent"))
    forwarded[count++] = *agent;
  http::UpstreamExchange exchange(client.worker().upstreams);
  const http::UpstreamRequest upstream_request{
      request.method, request.target, std::span<const http::Header>(forwarded.data(), count)};
  std::string error;
  const int rc = co_await exchange.start(chosen->endpoint, upstream_request, &error);
  if (rc < 0) {
    co_await send_upstream_failure(client, rc, error);
    co_return;
  }
  co_await relay_answer(client, exchange, {});
}

} // namespace regcache::registry

#include "registry/serve/push_relay.h"

#include <array>
#include <cassert>
#include <string>

#include "core/bounded_format.h"
#include "http/upstream_exchange.h"
#include "registry/api/push_location.h"
#include "registry/api/route.h"
#include "registry/cache/tag_store.h"
#include "registry/serve/upstream_answer.h"

namespace regcache::registry {
namespace {

// The request headers a push carries upstream: the client's own credentials and what describes
// the body or the answer it wants. Everything else (Host, hop-by-hop fields, Expect, which
// regcache answers itself) stays here; the framing is the exchange's to write.
constexpr std::array<std::string_view, 4> kForwardedHeaders = {"Authorization", "Content-Type",
                                                               "Content-Range", "Accept"};
// Accept may come several times (a manifest HEAD of a resumed push): room for them all.
constexpr size_t kForwardedHeadersMax = 16;

// The client's request body as the exchange's source: pieces straight out of the connection's
// buffers, so a push of any size holds no more memory than a pull.
class ClientBody final : public http::RequestBodySource {
public:
  explicit ClientBody(ClientConnection &client) : client_(client) {}
  core::Task<int> next_piece(std::span<const char> &piece) override {
    int got = co_await client_.read_body_piece(piece);
    if (got < 0)
      failure_ = got;
    co_return got;
  }
  // The client's failure (-errno) that ended the body early; 0: none.
  int failure() const { return failure_; }

private:
  ClientConnection &client_;
  int failure_ = 0;
};

// One of the worker's push slots, held for the whole relay.
class PushSlot {
public:
  explicit PushSlot(WorkerContext &worker) : worker_(worker) { worker_.pushes_running++; }
  ~PushSlot() {
    assert(worker_.pushes_running > 0);
    worker_.pushes_running--;
  }
  PushSlot(const PushSlot &) = delete;
  PushSlot &operator=(const PushSlot &) = delete;

private:
  WorkerContext &worker_;
};

// The query sent upstream: the client's without `ns`, which is regcache's routing.
std::string upstream_query(std::string_view query) {
  std::string out;
  while (!query.empty()) { // bounded: each round removes one pair
    const size_t ampersand = query.find('&');
    const std::string_view pair = query.substr(0, ampersand);
    query.remove_prefix(ampersand == std::string_view::npos ? query.size() : ampersand + 1);
    if (pair.empty() || pair == "ns" || pair.starts_with("ns="))
      continue;
    out.append(out.empty() ? "?" : "&").append(pair);
  }
  return out;
}

RequestKind kind_of(const PushRoute &route) {
  return route.kind == PushRoute::Kind::Manifest ? RequestKind::Manifest : RequestKind::Blob;
}

} // namespace

bool is_relayed_push(const Config &config, const http::RequestHead &request) {
  if (!config.allow_push || !request.path.starts_with("/v2/"))
    return false;
  if (is_push_method(request.method))
    return true;
  if (request.method != "GET" && request.method != "HEAD")
    return false;
  const std::optional<PushRoute> route = parse_push_route(request.path);
  if (!route)
    return false;
  // A HEAD of a blob is how a pusher asks whether the upstream repository has it already
  // (pullers GET blobs): the cache holding the bytes says nothing about that repository, and a
  // yes from it would make the pusher skip an upload the upstream then misses.
  const bool blob_check = route->kind == PushRoute::Kind::Blob && request.method == "HEAD";
  return route->kind == PushRoute::Kind::UploadSession || blob_check;
}

core::Task<bool> relay_upstream_challenge(ClientConnection &client,
                                          const UpstreamChoice &upstream) {
  http::UpstreamExchange exchange(client.worker().upstreams);
  std::string error;
  const http::UpstreamRequest ping{"GET", "/v2/", {}};
  int rc = co_await exchange.start(upstream.endpoint, ping, &error);
  if (rc < 0 || exchange.fields().status != 401 || exchange.fields().www_authenticate.empty())
    co_return false;
  client.set_outcome(CacheOutcome::Pass);
  const http::Header challenge{"WWW-Authenticate", exchange.fields().www_authenticate};
  co_await relay_answer(client, exchange, std::span<const http::Header>(&challenge, 1));
  co_return true;
}

core::Task<void> relay_push(ClientConnection &client, const http::RequestHead &request,
                            const PushRoute &route, const UpstreamChoice &upstream) {
  client.set_request_kind(kind_of(route));
  WorkerContext &worker = client.worker();
  if (worker.pushes_running >= client.generation().config.pushes_max) {
    co_await send_over_capacity(client, "too many pushes at once (--pushes-max)");
    co_return;
  }
  const PushSlot slot(worker);
  client.set_outcome(CacheOutcome::Push);

  const std::string target =
      "/v2/" + upstream.name + std::string(route.suffix) + upstream_query(request.query);
  std::array<http::Header, kForwardedHeadersMax> headers;
  size_t header_count = 0;
  for (const http::Header &header : request.headers) {
    for (std::string_view name : kForwardedHeaders) {
      if (http::iequals(header.name, name) && header_count < headers.size())
        headers[header_count++] = header;
    }
  }
  ClientBody body(client);
  http::UpstreamRequest upstream_request{
      request.method, target, std::span<const http::Header>(headers.data(), header_count)};
  if (client.request_body_pending()) {
    upstream_request.body_source = &body;
    upstream_request.body_source_length_known = request.framing == http::BodyFraming::ContentLength;
    upstream_request.body_source_bytes = request.content_length;
  } else if (request.method == "POST" || request.method == "PUT" || request.method == "PATCH") {
    // Content-Length: 0 spelled out: a front such as nginx may answer 411 to a POST or PUT
    // without it (RFC 9110 section 8.6 lets a client leave it out; not every server agrees).
    upstream_request.body_source = &body;
    upstream_request.body_source_length_known = true;
    upstream_request.body_source_bytes = 0;
  }
  // Straight to the pool: no UpstreamAuth, so no credentials or token of regcache's can be
  // added to a push. The pool's active budget bounds it as it bounds pulls (503 when spent).
  http::UpstreamExchange exchange(worker.upstreams);
  std::string error;
  int rc = co_await exchange.start(upstream.endpoint, upstream_request, &error);
  if (rc < 0 && body.failure() != 0) {
    // The client, not the upstream, failed: a body that stopped coming (RFC 9110 section
    // 15.5.9: 408) or broke its framing (400). The connection ends after the answer.
    client.set_outcome(CacheOutcome::Error);
    if (body.failure() == -ETIME) {
      co_await client.send_oci_error(408, OciErrorCode::BlobUploadInvalid,
                                     "no request body bytes for --idle-timeout-ms");
    } else {
      co_await client.send_oci_error(400, OciErrorCode::BlobUploadInvalid,
                                     "the request body ended early or broke its framing");
    }
    co_return;
  }
  if (rc < 0) {
    co_await send_upstream_failure(client, rc, error);
    co_return;
  }
  const http::ResponseFields &fields = exchange.fields();
  const bool success = fields.status >= 200 && fields.status < 300;
  if (success && route.kind == PushRoute::Kind::Manifest && !route.tag.empty()) {
    // Before the client hears of it: its next pull by this tag must see the new manifest.
    const TagKey key{upstream.endpoint.authority, upstream.name, route.tag};
    co_await worker.tags.expire(key);
  }
  RegistryHostBuffer ns_buffer;
  const std::optional<std::string_view> ns = ns_param(request.query, ns_buffer);
  const PushLocationContext location_context{&upstream.endpoint, upstream.name, route.name,
                                             ns && !ns->empty() ? query_param(request.query, "ns")
                                                                : std::string_view()};
  const std::string location = fields.location.empty()
                                   ? std::string()
                                   : rewrite_push_location(fields.location, location_context);
  std::array<http::Header, 4> answer_headers;
  size_t answer_count = 0;
  auto add = [&](std::string_view name, std::string_view value) {
    if (!value.empty())
      answer_headers[answer_count++] = http::Header{name, value};
  };
  add("Location", location);
  add("Docker-Upload-UUID", fields.docker_upload_uuid);
  add("Range", fields.range);
  // A 401's challenge, so the client runs the token flow against the registry's own realm.
  add("WWW-Authenticate", fields.www_authenticate);
  co_await relay_answer(client, exchange,
                        std::span<const http::Header>(answer_headers.data(), answer_count));
}

} // namespace regcache::registry

#include "registry/serve/upstream_relay.h"

#include <fmt/format.h>

#include <array>

#include "http/chunked_encoder.h"
#include "registry/auth/upstream_auth.h"

namespace regcache::registry {
namespace {

// The upstream response headers a client of a mirror needs; hop-by-hop and
// connection-specific ones are never copied.
size_t answer_headers(const http::ResponseFields &fields, std::span<http::Header> out) {
  size_t count = 0;
  auto add = [&](std::string_view name, const std::string &value) {
    if (!value.empty() && count < out.size())
      out[count++] = http::Header{name, value};
  };
  add("Content-Type", fields.content_type);
  add("Docker-Content-Digest", fields.docker_content_digest);
  add("Retry-After", fields.retry_after);
  add("Link", fields.link);
  add("ETag", fields.etag);
  add("Last-Modified", fields.last_modified);
  return count;
}

// A rate limit or server error whose body is not the registry's error JSON (an HTML page from a
// load balancer, an empty body): the client still gets the status and Retry-After, with an OCI
// error body it can parse.
bool needs_oci_error_body(const http::ResponseFields &fields) {
  return upstream_unhealthy(fields.status) && fields.content_type.find("json") == std::string::npos;
}

core::Task<int> send_synthesized_error(ClientConnection &client,
                                       const http::ResponseFields &fields) {
  std::array<char, 160> message;
  auto result = fmt::format_to_n(message.data(), message.size(), "the upstream answered {}{}",
                                 fields.status, fields.status == 429 ? " (too many requests)" : "");
  std::array<http::Header, 1> retry_after{http::Header{"Retry-After", fields.retry_after}};
  std::span<const http::Header> extra(retry_after.data(), fields.retry_after.empty() ? 0 : 1);
  OciErrorCode code =
      fields.status == 429 ? OciErrorCode::TooManyRequests : OciErrorCode::UpstreamUnavailable;
  co_return co_await client.send_oci_error(
      fields.status, code, std::string_view(message.data(), std::min(result.size, message.size())),
      extra);
}

} // namespace

size_t collect_accept_headers(const http::RequestHead &head, std::span<http::Header> out) {
  size_t count = 0;
  for (const http::Header &header : head.headers) {
    if (http::iequals(header.name, "Accept") && count < out.size())
      out[count++] = header;
  }
  return count;
}

namespace {

core::Task<void> read_small_answer(http::UpstreamExchange &exchange, const http::Endpoint &endpoint,
                                   uint64_t body_bytes_max, SmallResponse &out) {
  out.fields = exchange.fields();
  for (;;) {
    std::span<const char> piece;
    int got = co_await exchange.read_body(piece);
    if (got == 0)
      break;
    if (got < 0) {
      out.rc = got;
      out.error = fmt::format("reading the body from {}: {}", endpoint.authority, strerror(-got));
      co_return;
    }
    if (out.body.size() + piece.size() > body_bytes_max) {
      out.too_large = true;
      co_return;
    }
    out.body.append(piece.data(), piece.size());
  }
}

} // namespace

core::Task<void> fetch_small(WorkerContext &worker, const http::Endpoint &endpoint,
                             const http::UpstreamRequest &request, uint64_t body_bytes_max,
                             SmallResponse &out) {
  http::UpstreamExchange exchange(worker.upstreams);
  out.rc = co_await exchange.start(endpoint, request, &out.error);
  if (out.rc < 0)
    co_return;
  co_await read_small_answer(exchange, endpoint, body_bytes_max, out);
}

core::Task<void> fetch_small_authorized(WorkerContext &worker, const UpstreamChoice &upstream,
                                        std::string_view method, std::string_view target,
                                        std::span<const http::Header> headers,
                                        uint64_t body_bytes_max, SmallResponse &out) {
  http::UpstreamExchange exchange(worker.upstreams);
  const http::UpstreamRequest request{method, target, headers};
  out.rc = co_await worker.auth.start(worker, exchange, upstream, request, &out.error);
  if (out.rc < 0)
    co_return;
  co_await read_small_answer(exchange, upstream.endpoint, body_bytes_max, out);
}

core::Task<int> send_upstream_answer(ClientConnection &client, const http::ResponseFields &fields,
                                     std::string_view body) {
  if (needs_oci_error_body(fields))
    co_return co_await send_synthesized_error(client, fields);
  std::array<http::Header, 8> headers;
  size_t count = answer_headers(fields, headers);
  http::HeadWriter head = client.start_head(fields.status);
  for (size_t i = 0; i < count; ++i)
    head.header(headers[i].name, headers[i].value);
  // A HEAD answer has no body but tells the length of the GET's.
  uint64_t length =
      client.is_head_request() && fields.has_content_length ? fields.content_length : body.size();
  head.header_uint("Content-Length", length);
  int rc = co_await client.send_head(head);
  if (rc < 0 || client.is_head_request() || body.empty())
    co_return rc;
  co_return co_await client.send_bytes(std::span<const char>(body.data(), body.size()));
}

core::Task<int> send_upstream_unavailable(ClientConnection &client, std::string_view error) {
  client.set_outcome(CacheOutcome::Error);
  std::array<char, 300> message;
  auto result = fmt::format_to_n(message.data(), message.size(), "upstream unavailable: {}", error);
  co_return co_await client.send_oci_error(
      502, OciErrorCode::UpstreamUnavailable,
      std::string_view(message.data(), std::min(result.size, message.size())));
}

core::Task<int> send_upstream_failure(ClientConnection &client, int rc, std::string_view error) {
  if (rc != -EACCES)
    co_return co_await send_upstream_unavailable(client, error);
  client.set_outcome(CacheOutcome::Error);
  std::array<char, 300> message;
  auto result = fmt::format_to_n(message.data(), message.size(),
                                 "the upstream refused regcache's credentials: {}", error);
  co_return co_await client.send_oci_error(
      401, OciErrorCode::Unauthorized,
      std::string_view(message.data(), std::min(result.size, message.size())));
}

core::Task<void> relay_request(ClientConnection &client, const http::RequestHead &head,
                               const UpstreamChoice &upstream, std::string_view target,
                               std::span<const http::Header> headers) {
  client.set_outcome(CacheOutcome::Pass);
  http::UpstreamExchange exchange(client.worker().upstreams);
  std::string error;
  const http::UpstreamRequest request{head.method, target, headers};
  int rc =
      co_await client.worker().auth.start(client.worker(), exchange, upstream, request, &error);
  if (rc < 0) {
    co_await send_upstream_failure(client, rc, error);
    co_return;
  }
  const http::ResponseFields &fields = exchange.fields();
  if (needs_oci_error_body(fields)) {
    co_await send_synthesized_error(client, fields);
    co_return;
  }
  std::array<http::Header, 8> answer;
  size_t count = answer_headers(fields, answer);
  http::HeadWriter reply = client.start_head(fields.status);
  for (size_t i = 0; i < count; ++i)
    reply.header(answer[i].name, answer[i].value);
  bool chunked = false;
  if (fields.has_content_length) {
    reply.header_uint("Content-Length", fields.content_length);
  } else if (client.is_head_request() || exchange.framing() == http::BodyFraming::None) {
    reply.header_uint("Content-Length", 0);
  } else {
    reply.header("Transfer-Encoding", "chunked");
    chunked = true;
  }
  if (co_await client.send_head(reply) < 0 || client.is_head_request())
    co_return;
  for (;;) { // bounded by the upstream's body: each turn consumes bytes or ends
    std::span<const char> piece;
    int got = co_await exchange.read_body(piece);
    if (got < 0) {
      client.abort_response(); // a cut-off body must not look complete
      co_return;
    }
    if (got == 0)
      break;
    if (chunked) {
      std::array<char, 18> chunk_head;
      size_t bytes = http::format_chunk_header(chunk_head, piece.size());
      if (co_await client.send_bytes(std::span<const char>(chunk_head.data(), bytes)) < 0)
        co_return;
    }
    if (co_await client.send_bytes(piece) < 0)
      co_return;
    if (chunked && co_await client.send_bytes(http::kChunkTrailer) < 0)
      co_return;
  }
  if (chunked)
    co_await client.send_bytes(http::kLastChunk);
}

} // namespace regcache::registry

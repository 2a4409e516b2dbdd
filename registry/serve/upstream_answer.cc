#include "registry/serve/upstream_answer.h"

#include <array>

#include "core/bounded_format.h"
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
  std::string_view text = core::format_bounded(message, "the upstream answered {}{}", fields.status,
                                               fields.status == 429 ? " (too many requests)" : "");
  std::array<http::Header, 1> retry_after{http::Header{"Retry-After", fields.retry_after}};
  std::span<const http::Header> extra(retry_after.data(), fields.retry_after.empty() ? 0 : 1);
  OciErrorCode code =
      fields.status == 429 ? OciErrorCode::TooManyRequests : OciErrorCode::UpstreamUnavailable;
  co_return co_await client.send_oci_error(fields.status, code, text, extra);
}

// The status line and the answer's meaningful headers; the framing is the caller's to add.
http::HeadWriter start_answer_head(ClientConnection &client, const http::ResponseFields &fields) {
  std::array<http::Header, 8> headers;
  size_t count = answer_headers(fields, headers);
  http::HeadWriter head = client.start_head(fields.status);
  for (size_t i = 0; i < count; ++i)
    head.header(headers[i].name, headers[i].value);
  return head;
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

core::Task<int> send_upstream_answer(ClientConnection &client, const http::ResponseFields &fields,
                                     std::string_view body) {
  if (needs_oci_error_body(fields))
    co_return co_await send_synthesized_error(client, fields);
  http::HeadWriter head = start_answer_head(client, fields);
  // A HEAD answer has no body but tells the length of the GET's.
  client.frame_length(head, client.is_head_request() && fields.has_content_length
                                ? fields.content_length
                                : body.size());
  int rc = co_await client.send_head(head);
  if (rc < 0)
    co_return rc;
  co_return co_await client.send_body(std::span<const char>(body.data(), body.size()));
}

core::Task<int> send_upstream_unavailable(ClientConnection &client, std::string_view error) {
  client.set_outcome(CacheOutcome::Error);
  std::array<char, 300> message;
  co_return co_await client.send_oci_error(
      502, OciErrorCode::UpstreamUnavailable,
      core::format_bounded(message, "upstream unavailable: {}", error));
}

core::Task<int> send_registry_denied(ClientConnection &client) {
  client.set_outcome(CacheOutcome::Error);
  co_return co_await client.send_oci_error(403, OciErrorCode::Denied, kRegistryDeniedMessage);
}

core::Task<int> send_over_capacity(ClientConnection &client, std::string_view why) {
  client.set_outcome(CacheOutcome::Error);
  std::array<char, 300> message;
  std::array<http::Header, 1> retry_after{http::Header{"Retry-After", "1"}};
  co_return co_await client.send_oci_error(
      503, OciErrorCode::TooManyRequests,
      core::format_bounded(message, "regcache is busy, retry: {}", why), retry_after);
}

core::Task<int> send_upstream_failure(ClientConnection &client, int rc, std::string_view error) {
  if (rc == -EPERM)
    co_return co_await send_registry_denied(client);
  if (rc == -EBUSY)
    co_return co_await send_over_capacity(client, error);
  if (rc != -EACCES)
    co_return co_await send_upstream_unavailable(client, error);
  client.set_outcome(CacheOutcome::Error);
  std::array<char, 300> message;
  co_return co_await client.send_oci_error(
      401, OciErrorCode::Unauthorized,
      core::format_bounded(message, "the upstream refused regcache's credentials: {}", error));
}

core::Task<void> relay_request(ClientConnection &client, const http::RequestHead &request,
                               const UpstreamChoice &upstream, std::string_view target,
                               std::span<const http::Header> headers) {
  client.set_outcome(CacheOutcome::Pass);
  WorkerContext &worker = client.worker();
  http::UpstreamExchange exchange(worker.upstreams);
  std::string error;
  const http::UpstreamRequest upstream_request{request.method, target, headers};
  int rc = co_await client.generation().auth->start(worker.upstreams, exchange, upstream,
                                                    upstream_request, &error);
  if (rc < 0) {
    co_await send_upstream_failure(client, rc, error);
    co_return;
  }
  co_await relay_answer(client, exchange, {});
}

core::Task<void> relay_answer(ClientConnection &client, http::UpstreamExchange &exchange,
                              std::span<const http::Header> extra_headers) {
  const http::ResponseFields &fields = exchange.fields();
  if (needs_oci_error_body(fields)) {
    co_await send_synthesized_error(client, fields);
    co_return;
  }
  http::HeadWriter head = start_answer_head(client, fields);
  for (const http::Header &header : extra_headers)
    head.header(header.name, header.value);
  if (fields.has_content_length) {
    client.frame_length(head, fields.content_length);
  } else if (exchange.framing() == http::BodyFraming::None) {
    client.frame_length(head, 0);
  } else {
    client.frame_unknown_length(head);
  }
  if (co_await client.send_head(head) < 0 || client.is_head_request())
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
    if (co_await client.send_body(piece) < 0)
      co_return;
  }
  co_await client.end_body();
}

} // namespace regcache::registry

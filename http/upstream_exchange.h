#pragma once
// One request/response exchange with an upstream over a pooled connection. The response head's
// views point into the connection's buffer and are valid only until the first read_body(), so
// start() copies the fields the registry layer needs into `fields`.
#include <array>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/task.h"
#include "http/chunked_decoder.h"
#include "http/message_head.h"
#include "http/read_budget.h"
#include "http/upstream_pool.h"

namespace regcache::http {

// A request body the caller hands over piece by piece while the exchange sends it (a client's
// push relayed upstream as it arrives), so memory stays bounded whatever the body's size.
class RequestBodySource {
public:
  // The next piece, a view valid until the next call: > 0 its bytes, 0 the end of the body,
  // < 0 -errno (the source failed: the client stopped sending or broke the framing).
  virtual core::Task<int> next_piece(std::span<const char> &piece) = 0;

protected:
  ~RequestBodySource() = default;
};

struct UpstreamRequest {
  std::string_view method;         // GET, HEAD, or a push's POST/PUT/PATCH/DELETE
  std::string_view target;         // origin-form path and query
  std::span<const Header> headers; // extra request headers (Accept, Authorization, ...)
  std::string_view body;           // sent with Content-Length when not empty (token POSTs)
  std::string_view body_content_type;
  // What the caller says this request is, for the pool's ExchangeObserver (http/
  // exchange_observer.h); 0: not reported. Its meaning is the observer's, not http's.
  uint32_t observed_as = 0;
  // A streamed body instead (`body` empty): sent with Content-Length `body_source_bytes` when
  // `body_source_length_known`, else chunked. Such a request opens a new connection unless its
  // length is 0: a body read from its source cannot be sent again, so a pooled connection the
  // upstream closed meanwhile could not be retried.
  RequestBodySource *body_source = nullptr;
  bool body_source_length_known = false;
  uint64_t body_source_bytes = 0;
};

// The response fields regcache uses, copied out of the receive buffer.
struct ResponseFields {
  uint16_t status = 0;
  bool has_content_length = false;
  uint64_t content_length = 0;
  std::string content_type;
  std::string docker_content_digest;
  std::string location;
  std::string retry_after;
  std::string www_authenticate;
  std::string link;
  std::string etag;
  std::string last_modified;
  // An upload session's (distribution spec, "Pushing blobs"); empty when absent.
  std::string docker_upload_uuid;
  std::string range;
  // Docker Hub's quota (http/ratelimit_header.h parses them); empty when absent.
  std::string ratelimit_limit;
  std::string ratelimit_remaining;
};

// How much of an unwanted body (a 401's, a redirect's) is read to keep its connection: more
// than any error page, less than a download.
inline constexpr uint64_t kDrainBytesMax = 64 * 1024;

class UpstreamExchange {
public:
  explicit UpstreamExchange(UpstreamPool &pool)
      : pool_(pool),
        budget_(ReadLimits{pool.settings().read_timeout_ms, pool.settings().min_bytes_per_s,
                           pool.settings().rate_window_ms}) {}
  ~UpstreamExchange();
  UpstreamExchange(const UpstreamExchange &) = delete;
  UpstreamExchange &operator=(const UpstreamExchange &) = delete;

  // Sends the request and reads the response head. A reused pooled connection that fails before
  // any response byte is retried once on a new connection (the upstream may have closed it),
  // unless it failed by timing out: a timeout says the upstream is slow, not that it closed an
  // idle connection, and a retry would double the wait. Returns 0, or -errno with `error` set.
  core::Task<int> start(const Endpoint &endpoint, const UpstreamRequest &request,
                        std::string *error);

  const ResponseFields &fields() const { return fields_; }
  BodyFraming framing() const { return framing_; }

  // The next piece of the body (a view into the connection buffer, valid until the next call).
  // > 0: bytes in `piece`; 0: the body is complete; < 0: -errno (truncated or broken framing;
  // -ETIME: the upstream was silent for the read timeout; -ETIMEDOUT: it sent less than the
  // rate floor over a window, see http/read_budget.h). With `wait_ms_max` > 0, returns -EAGAIN
  // when no byte came for that long (the response goes on: call again), so a caller can do
  // time-bound work (a download wakes its readers) while the upstream is quiet.
  core::Task<int> read_body(std::span<const char> &piece, uint32_t wait_ms_max = 0);
  // The next bytes of the body, put into `room` (not empty); returns as read_body() does. A
  // Content-Length or until-close body is received straight into `room` once the bytes that
  // came with the head are used up, so a download's bytes are never copied by us; a chunked
  // body is decoded in the connection buffer and copied (its framing sits between the data).
  // Never receives past the body's end: the connection stays reusable.
  core::Task<int> read_body_into(std::span<char> room, uint32_t wait_ms_max = 0);
  // A phrase for a log line saying why a read failed with `rc`.
  std::string describe_read_failure(int rc) const;
  // Reads and discards up to `bytes_max` of the body so the connection can be reused; false if
  // the body was larger or broken.
  core::Task<bool> drain_body(uint64_t bytes_max);

private:
  core::Task<int> attempt(const Endpoint &endpoint, const UpstreamRequest &request,
                          bool allow_reuse, bool *retryable, std::string *error);
  // Sends request.body_source's pieces (chunk-encoded when its length is not known). Returns 0,
  // -errno of the upstream write, or `*source_failed` with the source's -errno.
  core::Task<int> send_streamed_body(const UpstreamRequest &request, bool *source_failed);
  // More bytes into the buffer: > 0 read, 0 EOF, < 0 error (-EAGAIN: `wait_ms_max` passed).
  core::Task<int> fill(uint32_t wait_ms_max = 0);
  // One read into `room` within the read budget; returns as fill() does.
  core::Task<int> receive(std::span<char> room, uint32_t wait_ms_max);
  // read_body() with pieces of at most `bytes_max`.
  core::Task<int> read_buffered_body(std::span<const char> &piece, uint32_t wait_ms_max,
                                     size_t bytes_max);
  void finish_body();
  // A read found the connection closed: the end of an until-close body (0), else a truncated
  // body (-ECONNRESET).
  int body_stream_ended();

  UpstreamPool &pool_;
  std::unique_ptr<UpstreamConnection> connection_;
  ResponseFields fields_;
  BodyFraming framing_ = BodyFraming::None;
  bool keep_alive_ = false;
  bool body_done_ = false;
  uint64_t body_remaining_ = 0;
  ChunkedDecoder chunked_;
  ReadBudget budget_; // restarted by every attempt
};

} // namespace regcache::http

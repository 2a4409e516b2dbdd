#include "http/upstream_exchange.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cstdint>
#include <cstring>

#include "http/chunked_encoder.h"
#include "http/exchange_observer.h"
#include "http/head_writer.h"
#include "http/response_parser.h"

namespace regcache::http {
namespace {

constexpr size_t kResponseHeadersMax = 64;
constexpr size_t kRequestHeadBytesMax = 8 * 1024;

std::string copy_field(const ResponseHead &head, std::string_view name) {
  const Header *header = head.find(name);
  return header != nullptr ? std::string(header->value) : std::string();
}

} // namespace

UpstreamExchange::~UpstreamExchange() {
  // A connection whose body was not read to the end is not reusable: it is closed here.
  if (connection_ && body_done_ && keep_alive_)
    pool_.release(std::move(connection_));
}

core::Task<int> UpstreamExchange::start(const Endpoint &endpoint, const UpstreamRequest &request,
                                        std::string *error) {
  // A second start() on the same exchange (an auth retry) gives the first connection back.
  if (connection_ && body_done_ && keep_alive_)
    pool_.release(std::move(connection_));
  connection_.reset();
  bool retryable = false;
  // See UpstreamRequest::body_source; an empty one has nothing that could not be sent again.
  const bool allow_reuse = request.body_source == nullptr ||
                           (request.body_source_length_known && request.body_source_bytes == 0);
  int rc = co_await attempt(endpoint, request, allow_reuse, &retryable, error);
  if (rc < 0 && retryable) {
    connection_.reset();
    rc = co_await attempt(endpoint, request, false, &retryable, error);
  }
  if (request.observed_as != 0 && pool_.observer() != nullptr) {
    const ExchangeReport report{endpoint, request, rc, rc == 0 ? &fields_ : nullptr,
                                rc < 0 ? std::string_view(*error) : std::string_view()};
    pool_.observer()->on_exchange(report);
  }
  co_return rc;
}

core::Task<int> UpstreamExchange::attempt(const Endpoint &endpoint, const UpstreamRequest &request,
                                          bool allow_reuse, bool *retryable, std::string *error) {
  *retryable = false;
  // Nothing of an earlier exchange on this object may make this connection look reusable: until
  // this attempt has read a whole response head, the connection is not reusable.
  body_done_ = false;
  keep_alive_ = false;
  int failure = 0;
  connection_ = co_await pool_.acquire(endpoint, allow_reuse, error, &failure);
  if (!connection_)
    co_return failure;
  bool reused = connection_->reused();
  connection_->count_exchange();
  const uint32_t timeout_ms = pool_.settings().read_timeout_ms;
  budget_.restart();

  std::array<char, kRequestHeadBytesMax> head_bytes;
  HeadWriter writer(head_bytes);
  writer.request_line(request.method, request.target);
  writer.header("Host", endpoint.authority);
  writer.header("User-Agent", "regcache/0.1");
  for (const Header &header : request.headers)
    writer.header(header.name, header.value);
  assert(request.body.empty() || request.body_source == nullptr);
  if (!request.body.empty()) {
    writer.header("Content-Type", request.body_content_type);
    writer.header_uint("Content-Length", request.body.size());
  } else if (request.body_source != nullptr && request.body_source_length_known) {
    writer.header_uint("Content-Length", request.body_source_bytes);
  } else if (request.body_source != nullptr) {
    writer.header("Transfer-Encoding", "chunked");
  }
  writer.end();
  if (writer.overflowed() || writer.field_rejected()) {
    *error = "upstream request head too large or has a forbidden character";
    co_return -E2BIG;
  }
  int rc = co_await connection_->stream().write_all(
      std::span<const char>(writer.view().data(), writer.size()), timeout_ms);
  if (rc == 0 && !request.body.empty()) {
    rc = co_await connection_->stream().write_all(request.body, timeout_ms);
  }
  if (rc == 0 && request.body_source != nullptr) {
    bool source_failed = false;
    rc = co_await send_streamed_body(request, &source_failed);
    if (source_failed) {
      *error = fmt::format("request body for {}: {}", endpoint.authority, strerror(-rc));
      co_return rc;
    }
    // An upstream that answers early (a 401 or 413 before the body is read) may close its side
    // while the body still streams: its answer is read below, and only when there is none does
    // the write's error stand.
    if (rc < 0 && connection_->begin == connection_->end) {
      std::span<char> room(connection_->buffer.data() + connection_->end,
                           connection_->buffer.size() - connection_->end);
      int got = co_await connection_->stream().read(room, timeout_ms);
      if (got > 0) {
        connection_->end += static_cast<size_t>(got);
        rc = 0;
      }
    }
  }
  if (rc < 0) {
    *retryable = reused && rc != -ETIME;
    *error = fmt::format("send to {}: {}", endpoint.authority, strerror(-rc));
    co_return rc;
  }

  std::array<Header, kResponseHeadersMax> header_storage;
  ResponseHead head;
  ParseLimits limits;
  limits.header_bytes_max = 64 * 1024;
  HeadScan head_scan; // each turn parses only the bytes that came since the last
  // A head is bounded by header_bytes_max, but 1xx heads are consumed and replaced by the
  // next, so they are counted: an upstream sending endless 100 Continue is cut off.
  constexpr int kInterimResponsesMax = 16;
  int interim_responses = 0;
  for (;;) { // bounded: every turn adds bytes, consumes an interim head (counted) or ends
    std::span<const char> input(connection_->buffer.data() + connection_->begin,
                                connection_->end - connection_->begin);
    ParseResult parsed; // Incomplete
    if (!input.empty())
      parsed =
          parse_response(input, header_storage, limits, request.method == "HEAD", head, head_scan);
    if (parsed.error()) {
      *error = fmt::format("bad response from {}: {}", endpoint.authority, parsed.error_reason);
      co_return -EPROTO;
    }
    if (parsed.complete()) {
      if (head.status >= 100 && head.status < 200) { // interim responses carry nothing for us
        if (++interim_responses > kInterimResponsesMax) {
          *error = fmt::format("{} sent more than {} interim responses", endpoint.authority,
                               kInterimResponsesMax);
          co_return -EPROTO;
        }
        connection_->begin += parsed.consumed;
        head_scan = HeadScan(); // the next head starts here
        continue;
      }
      connection_->begin += parsed.consumed;
      break;
    }
    if (input.size() >= limits.header_bytes_max) {
      *error = fmt::format("response head from {} too large", endpoint.authority);
      co_return -EPROTO;
    }
    int got = co_await fill();
    if (got <= 0) {
      // Nothing at all on a reused connection: the upstream closed it while idle. Not after a
      // timeout, which took the whole wait already.
      const bool timed_out = got == -ETIME || got == -ETIMEDOUT;
      *retryable = reused && input.empty() && !timed_out;
      *error = fmt::format("reading response from {}: {}", endpoint.authority,
                           got == 0 ? "connection closed" : describe_read_failure(got));
      co_return got == 0 ? -ECONNRESET : got;
    }
  }

  fields_ = ResponseFields{};
  fields_.status = head.status;
  if (const Header *length = head.find("Content-Length")) {
    fields_.has_content_length = true;
    fields_.content_length = head.content_length;
    (void)length;
  }
  fields_.content_type = copy_field(head, "Content-Type");
  fields_.docker_content_digest = copy_field(head, "Docker-Content-Digest");
  fields_.location = copy_field(head, "Location");
  fields_.retry_after = copy_field(head, "Retry-After");
  fields_.www_authenticate = copy_field(head, "WWW-Authenticate");
  fields_.link = copy_field(head, "Link");
  fields_.etag = copy_field(head, "ETag");
  fields_.last_modified = copy_field(head, "Last-Modified");
  fields_.docker_upload_uuid = copy_field(head, "Docker-Upload-UUID");
  fields_.range = copy_field(head, "Range");
  fields_.ratelimit_limit = copy_field(head, "RateLimit-Limit");
  fields_.ratelimit_remaining = copy_field(head, "RateLimit-Remaining");
  framing_ = head.framing;
  keep_alive_ = head.keep_alive;
  body_remaining_ = head.framing == BodyFraming::ContentLength ? head.content_length : 0;
  body_done_ = head.framing == BodyFraming::None ||
               (head.framing == BodyFraming::ContentLength && head.content_length == 0);
  chunked_ = ChunkedDecoder();
  co_return 0;
}

core::Task<int> UpstreamExchange::send_streamed_body(const UpstreamRequest &request,
                                                     bool *source_failed) {
  *source_failed = false;
  const uint32_t timeout_ms = pool_.settings().read_timeout_ms;
  const bool chunked = !request.body_source_length_known;
  uint64_t sent_bytes = 0;
  // Bounded by the source's body: every turn sends bytes or ends (a chunked body has no length
  // to bound it here: the source bounds it, by the client's timeouts).
  for (;;) {
    std::span<const char> piece;
    int got = co_await request.body_source->next_piece(piece);
    if (got < 0) {
      *source_failed = true;
      co_return got;
    }
    if (got == 0)
      break;
    sent_bytes += piece.size();
    if (!chunked && sent_bytes > request.body_source_bytes) {
      *source_failed = true; // the source gave more than it announced
      co_return -EPROTO;
    }
    if (chunked) {
      std::array<char, kChunkHeaderBytesMax> chunk_head;
      const size_t size = format_chunk_header(chunk_head, piece.size());
      int rc = co_await connection_->stream().write_all(
          std::span<const char>(chunk_head.data(), size), timeout_ms);
      if (rc < 0)
        co_return rc;
    }
    int rc = co_await connection_->stream().write_all(piece, timeout_ms);
    if (rc == 0 && chunked)
      rc = co_await connection_->stream().write_all(kChunkTrailer, timeout_ms);
    if (rc < 0)
      co_return rc;
  }
  if (!chunked && sent_bytes != request.body_source_bytes) {
    *source_failed = true;
    co_return -EPROTO;
  }
  if (chunked)
    co_return co_await connection_->stream().write_all(kLastChunk, timeout_ms);
  co_return 0;
}

core::Task<int> UpstreamExchange::fill(uint32_t wait_ms_max) {
  UpstreamConnection &connection = *connection_;
  if (connection.begin == connection.end) {
    connection.begin = connection.end = 0;
  } else if (connection.end == connection.buffer.size()) {
    // Compact: keep the unconsumed tail at the front (only partial heads/chunk lines get here).
    std::memmove(connection.buffer.data(), connection.buffer.data() + connection.begin,
                 connection.end - connection.begin);
    connection.end -= connection.begin;
    connection.begin = 0;
  }
  if (connection.end == connection.buffer.size())
    co_return -E2BIG;
  const std::span<char> room(connection.buffer.data() + connection.end,
                             connection.buffer.size() - connection.end);
  int got = co_await receive(room, wait_ms_max);
  if (got > 0)
    connection.end += static_cast<size_t>(got);
  co_return got;
}

core::Task<int> UpstreamExchange::receive(std::span<char> room, uint32_t wait_ms_max) {
  assert(!room.empty());
  core::ByteStream &stream = connection_->stream();
  // Bounded: a turn that brings no byte spends at least 1 ms of the silence budget, which ends
  // the loop when it runs out.
  for (;;) {
    const uint32_t wait_ms = budget_.next_wait_ms(wait_ms_max);
    const auto started = std::chrono::steady_clock::now();
    int got = co_await stream.read(room, wait_ms);
    const auto waited = std::chrono::steady_clock::now() - started;
    switch (budget_.account(got > 0 ? static_cast<uint64_t>(got) : 0, waited)) {
    case ReadBudget::Verdict::Silent:
      co_return -ETIME;
    case ReadBudget::Verdict::TooSlow:
      co_return -ETIMEDOUT;
    case ReadBudget::Verdict::Continue:
      break;
    }
    if (got != -ETIME)
      co_return got;
    // The wait ended early on purpose: at the caller's bound, or at the end of a rate window
    // that had bytes enough (then read on).
    if (wait_ms_max > 0 && wait_ms == wait_ms_max)
      co_return -EAGAIN;
  }
}

std::string UpstreamExchange::describe_read_failure(int rc) const {
  const ReadLimits &limits = budget_.limits();
  switch (rc) {
  case -ETIME:
    return fmt::format("no byte for {} ms (--upstream-read-timeout-ms)", limits.silence_ms_max);
  case -ETIMEDOUT:
    return fmt::format("{} bytes in {} ms, below {} bytes/s (--upstream-min-bytes-per-s)",
                       budget_.slow_window_bytes(), budget_.slow_window_ms(),
                       limits.min_bytes_per_s);
  default:
    return strerror(-rc);
  }
}

void UpstreamExchange::finish_body() {
  body_done_ = true;
}

int UpstreamExchange::body_stream_ended() {
  // Closed before Content-Length bytes or the last chunk: truncated.
  if (framing_ != BodyFraming::UntilClose)
    return -ECONNRESET;
  keep_alive_ = false;
  finish_body();
  return 0;
}

core::Task<int> UpstreamExchange::read_body(std::span<const char> &piece, uint32_t wait_ms_max) {
  int got = co_await read_buffered_body(piece, wait_ms_max, SIZE_MAX);
  co_return got;
}

core::Task<int> UpstreamExchange::read_body_into(std::span<char> room, uint32_t wait_ms_max) {
  assert(!room.empty());
  if (body_done_ || !connection_)
    co_return 0;
  const bool buffered = connection_->begin < connection_->end;
  const bool delimited_by_bytes =
      framing_ == BodyFraming::ContentLength || framing_ == BodyFraming::UntilClose;
  if (buffered || !delimited_by_bytes) {
    // The bytes that came with the head, or a chunked body: one copy out of the buffer.
    std::span<const char> piece;
    int got = co_await read_buffered_body(piece, wait_ms_max, room.size());
    if (got > 0)
      std::memcpy(room.data(), piece.data(), piece.size());
    co_return got;
  }
  if (framing_ == BodyFraming::ContentLength) {
    assert(body_remaining_ > 0); // else the body would be done
    room = room.first(static_cast<size_t>(std::min<uint64_t>(room.size(), body_remaining_)));
  }
  int got = co_await receive(room, wait_ms_max);
  if (got == 0)
    co_return body_stream_ended();
  if (got < 0)
    co_return got;
  if (framing_ == BodyFraming::ContentLength) {
    body_remaining_ -= static_cast<uint64_t>(got);
    if (body_remaining_ == 0)
      finish_body();
  }
  co_return got;
}

core::Task<int> UpstreamExchange::read_buffered_body(std::span<const char> &piece,
                                                     uint32_t wait_ms_max, size_t bytes_max) {
  assert(bytes_max > 0);
  if (body_done_ || !connection_)
    co_return 0;
  UpstreamConnection &connection = *connection_;
  switch (framing_) {
  case BodyFraming::None:
    finish_body();
    co_return 0;
  case BodyFraming::ContentLength: {
    if (connection.begin == connection.end) {
      int got = co_await fill(wait_ms_max);
      if (got == 0)
        co_return body_stream_ended();
      if (got < 0)
        co_return got;
    }
    size_t available = connection.end - connection.begin;
    size_t take = static_cast<size_t>(std::min<uint64_t>({available, body_remaining_, bytes_max}));
    piece = std::span<const char>(connection.buffer.data() + connection.begin, take);
    connection.begin += take;
    body_remaining_ -= take;
    if (body_remaining_ == 0)
      finish_body();
    co_return static_cast<int>(take);
  }
  case BodyFraming::UntilClose: {
    if (connection.begin == connection.end) {
      int got = co_await fill(wait_ms_max);
      if (got == 0)
        co_return body_stream_ended();
      if (got < 0)
        co_return got;
    }
    size_t take = std::min(connection.end - connection.begin, bytes_max);
    piece = std::span<const char>(connection.buffer.data() + connection.begin, take);
    connection.begin += take;
    co_return static_cast<int>(take);
  }
  case BodyFraming::Chunked:
    for (int turn = 0; turn < 1 << 20; ++turn) {
      std::span<const char> input(connection.buffer.data() + connection.begin,
                                  connection.end - connection.begin);
      ChunkedDecoder::Step step = chunked_.decode(input, bytes_max);
      connection.begin += step.consumed;
      switch (step.kind) {
      case ChunkedDecoder::Step::Kind::Data:
        piece = std::span<const char>(step.data.data(), step.data.size());
        co_return static_cast<int>(step.data.size());
      case ChunkedDecoder::Step::Kind::Done:
        finish_body();
        co_return 0;
      case ChunkedDecoder::Step::Kind::Error:
        co_return -EPROTO;
      case ChunkedDecoder::Step::Kind::NeedMore: {
        int got = co_await fill(wait_ms_max);
        if (got == 0)
          co_return body_stream_ended();
        if (got < 0)
          co_return got;
        break;
      }
      }
    }
    co_return -EPROTO;
  }
  co_return -EPROTO;
}

core::Task<bool> UpstreamExchange::drain_body(uint64_t bytes_max) {
  uint64_t drained = 0;
  for (;;) {
    std::span<const char> piece;
    int got = co_await read_body(piece);
    if (got == 0)
      co_return true;
    if (got < 0)
      co_return false;
    drained += static_cast<uint64_t>(got);
    if (drained > bytes_max)
      co_return false;
  }
}

} // namespace regcache::http

#include "registry/serve/client_connection.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <new>

#include "core/bounded_format.h"
#include "core/byte_stream.h"
#include "core/file_to_socket.h"
#include "core/io_ops.h"
#include "core/log_style.h"
#include "http/chunked_encoder.h"
#include "http/request_parser.h"
#include "registry/api/push_route.h"

namespace regcache::registry {
namespace {

using Clock = std::chrono::steady_clock;

uint32_t remaining_ms(Clock::time_point deadline) {
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 1 : static_cast<uint32_t>(left);
}

} // namespace

ClientConnection::ClientConnection(WorkerContext &worker, int fd)
    : worker_(worker), generation_(worker.current_generation()), fd_(fd),
      accepted_at_(Clock::now()) {
  next = worker_.connections;
  if (next != nullptr)
    next->prev = this;
  worker_.connections = this;
  worker_.connection_count++;
  worker_.connection_peak = std::max(worker_.connection_peak, worker_.connection_count);
  if (worker_.counters != nullptr)
    worker_.counters->connection_opened();
  if (ConnectionsPerClient *counts = worker_.connections_per_client) {
    sockaddr_storage peer{};
    socklen_t length = sizeof(peer);
    // Once per connection, only with the limit on; a plain syscall that never blocks. It fails
    // only for a client already gone, which stays uncounted and ends at its first read.
    if (::getpeername(fd_, reinterpret_cast<sockaddr *>(&peer), &length) == 0) {
      client_key_ = client_key_of(peer);
      admission_ = counts->admit(client_key_);
    }
  }
}

ClientConnection::~ClientConnection() {
  leave_idle_list();
  give_back_buffers();
  if (admission_ == ConnectionsPerClient::Admission::Counted)
    worker_.connections_per_client->release(client_key_);
  if (evicted_) {
    assert(worker_.connections_closing > 0);
    worker_.connections_closing--;
  }
  if (prev != nullptr)
    prev->next = next;
  if (next != nullptr)
    next->prev = prev;
  if (worker_.connections == this)
    worker_.connections = next;
  worker_.connection_count--;
  if (worker_.counters != nullptr)
    worker_.counters->connection_closed();
}

void ClientConnection::stop_if_idle() {
  // The pending recv or poll ends (end of file) and the serve loop leaves; a busy connection
  // sees `stopping` after its response.
  if (waiting_ != Waiting::Busy)
    ::shutdown(fd_, SHUT_RD);
}

bool ClientConnection::close_oldest_idle(WorkerContext &worker) {
  ClientConnection *oldest = worker.idle_oldest;
  if (oldest == nullptr)
    return false;
  assert(oldest->waiting_ == Waiting::NextRequest && !oldest->evicted_);
  oldest->leave_idle_list();
  oldest->evicted_ = true;
  worker.connections_closing++;
  // Its pending recv or poll ends with end of file and its serve loop closes the socket: a FIN
  // between requests, which keep-alive clients take as an ordinary close and reconnect (RFC
  // 9112 section 9.3). A plain syscall: it never blocks.
  ::shutdown(oldest->fd_, SHUT_RD);
  return true;
}

bool ClientConnection::make_room(WorkerContext &worker) {
  assert(worker.connection_count >= worker.connections_closing);
  if (worker.connection_count - worker.connections_closing < worker.connections_max)
    return true;
  return close_oldest_idle(worker);
}

void ClientConnection::enter_idle_list() {
  assert(!in_idle_list_);
  in_idle_list_ = true;
  idle_prev_ = worker_.idle_newest;
  idle_next_ = nullptr;
  if (idle_prev_ != nullptr) {
    idle_prev_->idle_next_ = this;
  } else {
    worker_.idle_oldest = this;
  }
  worker_.idle_newest = this;
  worker_.idle_count++;
}

void ClientConnection::leave_idle_list() {
  if (!in_idle_list_)
    return;
  in_idle_list_ = false;
  if (idle_prev_ != nullptr) {
    idle_prev_->idle_next_ = idle_next_;
  } else {
    worker_.idle_oldest = idle_next_;
  }
  if (idle_next_ != nullptr) {
    idle_next_->idle_prev_ = idle_prev_;
  } else {
    worker_.idle_newest = idle_prev_;
  }
  idle_prev_ = nullptr;
  idle_next_ = nullptr;
  worker_.idle_count--;
}

bool ClientConnection::take_buffers() {
  if (buffers_ != nullptr)
    return true;
  void *block = worker_.connection_buffers.acquire();
  if (block == nullptr)
    return false; // no memory: the connection ends rather than the process
  buffers_ = new (block) ConnectionBuffers;
  return true;
}

void ClientConnection::give_back_buffers() {
  if (buffers_ == nullptr)
    return;
  worker_.connection_buffers.release(buffers_);
  buffers_ = nullptr;
}

std::span<const char> ClientConnection::received_after_request() const {
  if (buffers_ == nullptr)
    return {};
  const size_t begin = receive_begin_ + request_head_bytes_;
  assert(begin <= receive_end_);
  return std::span<const char>(buffers_->receive.data() + begin, receive_end_ - begin);
}

void ClientConnection::begin_forward(std::string_view method, std::string_view target, int peer_fd,
                                     uint16_t status) {
  assert(!tunnel_ && buffers_ != nullptr);
  tunnel_ = true;
  forward_ = true;
  tunnel_peer_fd_ = peer_fd;
  tunnel_target_bytes_ = std::min(target.size(), tunnel_target_.size());
  std::memcpy(tunnel_target_.data(), target.data(), tunnel_target_bytes_);
  forward_method_bytes_ = std::min(method.size(), forward_method_.size());
  std::memcpy(forward_method_.data(), method.data(), forward_method_bytes_);
  keep_alive_ = false;
  status_ = status;
  head_sent_ = true;
}

core::Task<int> ClientConnection::send_tunnel_established(std::string_view target, int peer_fd) {
  assert(!tunnel_ && buffers_ != nullptr);
  tunnel_ = true;
  tunnel_peer_fd_ = peer_fd;
  tunnel_target_bytes_ = std::min(target.size(), tunnel_target_.size());
  std::memcpy(tunnel_target_.data(), target.data(), tunnel_target_bytes_);
  keep_alive_ = false;
  status_ = 200;
  head_sent_ = true;
  // RFC 9110 section 9.3.6: a 2xx answer to CONNECT has no body and no framing headers; the
  // bytes after it are the tunnel's.
  static constexpr std::string_view kEstablished = "HTTP/1.1 200 Connection established\r\n\r\n";
  co_return co_await send_bytes(kEstablished);
}

void ClientConnection::release_buffers_for_tunnel() {
  assert(tunnel_);
  give_back_buffers();
  receive_begin_ = receive_end_ = 0;
  request_head_bytes_ = 0;
}

void ClientConnection::end_tunnel(uint64_t bytes_up, uint64_t bytes_down) {
  assert(tunnel_);
  tunnel_peer_fd_ = -1; // closed by the tunnel after this
  tunnel_bytes_up_ = bytes_up;
  body_bytes_sent_ = bytes_down;
}

void ClientConnection::cut_tunnel() {
  if (tunnel_peer_fd_ < 0)
    return;
  ::shutdown(tunnel_peer_fd_, SHUT_RDWR);
  ::shutdown(fd_, SHUT_RDWR);
}

void ClientConnection::set_upstream(std::string_view authority) {
  upstream_bytes_ = std::min(authority.size(), upstream_text_.size());
  std::memcpy(upstream_text_.data(), authority.data(), upstream_bytes_);
}

http::HeadWriter ClientConnection::start_head(uint16_t status) {
  assert(buffers_ != nullptr); // held from a request's first byte until its response is sent
  status_ = status;
  response_framing_ = BodyFraming::Unset;
  head_sent_ = false;
  http::HeadWriter head(buffers_->head);
  head.status_line(status);
  head.header("Docker-Distribution-API-Version", "registry/2.0");
  return head;
}

void ClientConnection::frame_length(http::HeadWriter &head, uint64_t bytes) {
  assert(response_framing_ == BodyFraming::Unset);
  response_framing_ = BodyFraming::Length;
  head.header_uint("Content-Length", bytes);
}

void ClientConnection::frame_unknown_length(http::HeadWriter &head) {
  assert(response_framing_ == BodyFraming::Unset);
  if (head_request_) {
    // A HEAD answer has no body to delimit; its length is simply not known.
    response_framing_ = BodyFraming::Length;
    head.header_uint("Content-Length", 0);
  } else if (can_chunk()) {
    response_framing_ = BodyFraming::Chunked;
    head.header("Transfer-Encoding", "chunked");
  } else {
    response_framing_ = BodyFraming::UntilClose;
    keep_alive_ = false; // RFC 9112 section 6.3 item 8: the close ends the body
  }
}

void ClientConnection::adopt_intercepted_stream(std::unique_ptr<tls::TlsStream> stream,
                                                std::string_view ns) {
  assert(stream != nullptr && stream->fd() == fd_ && !intercepted());
  constexpr std::string_view kPrefix = "ns=";
  assert(!ns.empty() && kPrefix.size() + ns.size() <= intercept_query_.size());
  intercepted_stream_ = std::move(stream);
  std::memcpy(intercept_query_.data(), kPrefix.data(), kPrefix.size());
  std::memcpy(intercept_query_.data() + kPrefix.size(), ns.data(), ns.size());
  intercept_query_bytes_ = kPrefix.size() + ns.size();
}

core::Task<int> ClientConnection::send_connect_established() {
  static constexpr std::string_view kEstablished = "HTTP/1.1 200 Connection established\r\n\r\n";
  status_ = 200;
  response_framing_ = BodyFraming::Length; // nothing follows in HTTP: the tunnel's bytes
  head_sent_ = true;
  co_return co_await send_bytes(std::span<const char>(kEstablished.data(), kEstablished.size()));
}

core::Task<int> ClientConnection::receive(std::span<char> buffer, uint32_t timeout_ms) {
  if (intercepted_stream_ != nullptr)
    co_return co_await intercepted_stream_->read(buffer, timeout_ms);
  co_return co_await core::recv(fd_, buffer, timeout_ms);
}

core::Task<int> ClientConnection::send_bytes(std::span<const char> bytes) {
  const uint32_t timeout_ms = generation_->config.idle_timeout_ms;
  int rc = 0;
  if (intercepted_stream_ != nullptr) {
    rc = co_await intercepted_stream_->write_all(bytes, timeout_ms);
  } else {
    rc = co_await core::send_all(fd_, bytes, timeout_ms);
  }
  if (rc < 0)
    broken_ = true;
  co_return rc;
}

core::Task<int> ClientConnection::send_chunk_head(uint64_t chunk_bytes) {
  std::array<char, http::kChunkHeaderBytesMax> chunk_head;
  size_t size = http::format_chunk_header(chunk_head, chunk_bytes);
  int rc = co_await send_bytes(std::span<const char>(chunk_head.data(), size));
  co_return rc;
}

std::span<const char> ClientConnection::finish_head(http::HeadWriter &head) {
  assert(response_framing_ != BodyFraming::Unset); // every response says how its body ends
  if (worker_.stopping)
    keep_alive_ = false;
  if (request_body_pending()) {
    // The rest of the body is still coming (or, after an unanswered Expect, never will): the
    // next request's start is unknown. Close, draining what comes meanwhile.
    keep_alive_ = false;
    lingering_close_ = true;
  }
  // RFC 9112 section 9.3: a 1.0 connection persists only when the response says keep-alive;
  // section 9.6: a server that will close says so.
  if (!keep_alive_) {
    head.header("Connection", "close");
  } else if (request_version_minor_ == 0) {
    head.header("Connection", "keep-alive");
  }
  head.end();
  assert(!head.overflowed());
  head_sent_ = true;
  return std::span<const char>(head.view().data(), head.size());
}

core::Task<int> ClientConnection::send_head(http::HeadWriter &head) {
  co_return co_await send_bytes(finish_head(head));
}

core::Task<int> ClientConnection::send_head_and_body(http::HeadWriter &head,
                                                     std::span<const char> body) {
  assert(response_framing_ == BodyFraming::Length);
  const std::span<const char> head_bytes = finish_head(head);
  if (head_request_ || body.empty())
    co_return co_await send_bytes(head_bytes);
  if (intercepted_stream_ != nullptr) {
    // Two writes through TLS: each is encrypted into records anyway, and sent when flushed.
    int rc = co_await send_bytes(head_bytes);
    if (rc < 0)
      co_return rc;
    rc = co_await send_bytes(body);
    if (rc == 0)
      body_bytes_sent_ += body.size();
    co_return rc;
  }
  // The kernel reads these after submission: they live in this frame until the send completes.
  std::array<iovec, 2> parts{{
      {const_cast<char *>(head_bytes.data()), head_bytes.size()},
      {const_cast<char *>(body.data()), body.size()},
  }};
  msghdr message{};
  message.msg_iov = parts.data();
  message.msg_iovlen = parts.size();
  // Bounded: every turn sends at least one byte or ends; a short send (memory pressure) goes on
  // from where it stopped.
  size_t left = head_bytes.size() + body.size();
  while (left > 0) {
    int32_t sent = co_await core::sendmsg(fd_, &message, generation_->config.idle_timeout_ms);
    if (sent <= 0) {
      broken_ = true;
      co_return sent < 0 ? sent : -EPIPE;
    }
    left -= static_cast<size_t>(sent);
    size_t skip = static_cast<size_t>(sent);
    while (message.msg_iovlen > 0 && skip >= message.msg_iov->iov_len) {
      skip -= message.msg_iov->iov_len;
      ++message.msg_iov;
      --message.msg_iovlen;
    }
    if (message.msg_iovlen > 0) {
      message.msg_iov->iov_base = static_cast<char *>(message.msg_iov->iov_base) + skip;
      message.msg_iov->iov_len -= skip;
    }
  }
  body_bytes_sent_ += body.size();
  co_return 0;
}

core::Task<int> ClientConnection::send_body(std::span<const char> bytes) {
  assert(head_sent_);
  if (head_request_ || bytes.empty())
    co_return 0;
  if (response_framing_ == BodyFraming::Chunked) {
    int rc = co_await send_chunk_head(bytes.size());
    if (rc < 0)
      co_return rc;
  }
  int rc = co_await send_bytes(bytes);
  if (rc < 0)
    co_return rc;
  body_bytes_sent_ += bytes.size();
  if (response_framing_ == BodyFraming::Chunked)
    rc = co_await send_bytes(http::kChunkTrailer);
  co_return rc;
}

core::Task<int> ClientConnection::send_body_file(int file_fd, uint64_t offset, uint64_t bytes) {
  assert(head_sent_); // the head buffer is free to serve as the copy buffer
  if (head_request_ || bytes == 0)
    co_return 0;
  if (response_framing_ == BodyFraming::Chunked) {
    int rc = co_await send_chunk_head(bytes);
    if (rc < 0)
      co_return rc;
  }
  int rc = 0;
  if (intercepted_stream_ != nullptr) {
    // No splice through TLS: the stream reads the file and encrypts it.
    rc = co_await intercepted_stream_->send_file_range(
        file_fd, offset, bytes, generation_->config.idle_timeout_ms, &body_bytes_sent_);
  } else {
    const core::FileToSocket io{file_fd, fd_, generation_->config.idle_timeout_ms, buffers_->head};
    rc = co_await core::send_file_range(worker_.pipes, io, offset, bytes, &body_bytes_sent_);
  }
  if (rc < 0) {
    // The client has part of the body at most: it must not take the close for the end.
    abort_ = true;
    co_return rc;
  }
  if (response_framing_ == BodyFraming::Chunked)
    rc = co_await send_bytes(http::kChunkTrailer);
  co_return rc;
}

core::Task<int> ClientConnection::end_body() {
  if (response_framing_ != BodyFraming::Chunked || head_request_)
    co_return 0;
  co_return co_await send_bytes(http::kLastChunk);
}

core::Task<int> ClientConnection::send_simple(uint16_t status, std::string_view content_type,
                                              std::string_view body,
                                              std::span<const http::Header> extra_headers) {
  http::HeadWriter head = start_head(status);
  if (!content_type.empty())
    head.header("Content-Type", content_type);
  frame_length(head, body.size());
  for (const http::Header &header : extra_headers)
    head.header(header.name, header.value);
  int rc = co_await send_head(head);
  if (rc < 0)
    co_return rc;
  co_return co_await send_body(std::span<const char>(body.data(), body.size()));
}

core::Task<int> ClientConnection::send_oci_error(uint16_t status, OciErrorCode code,
                                                 std::string_view message,
                                                 std::span<const http::Header> extra_headers) {
  std::array<char, 1024> body;
  size_t bytes = format_oci_error(body, code, message);
  co_return co_await send_simple(status, "application/json", std::string_view(body.data(), bytes),
                                 extra_headers);
}

core::Task<void> ClientConnection::refuse_request(uint16_t status, std::string_view reason) {
  // A request we cannot parse leaves the byte stream in an unknown state: answer, then close.
  head_request_ = false;
  keep_alive_ = false;
  lingering_close_ = true;
  std::array<char, 256> message;
  std::string_view text = core::format_line_bounded(message, "malformed request: {}", reason);
  co_await send_simple(status, "text/plain", text);
}

void ClientConnection::begin_request_body(const http::RequestHead &request, size_t head_bytes) {
  request_body_framing_ = request.framing;
  request_body_remaining_ =
      request.framing == http::BodyFraming::ContentLength ? request.content_length : 0;
  request_body_done_ =
      request.framing == http::BodyFraming::None ||
      (request.framing == http::BodyFraming::ContentLength && request.content_length == 0);
  request_chunks_ = http::ChunkedDecoder();
  body_read_past_end_ = false;
  body_bytes_in_receive_ = 0;
  const size_t body_begin = receive_begin_ + head_bytes;
  assert(body_begin <= receive_end_);
  body_pending_ = buffers_->receive.data() + body_begin;
  body_pending_bytes_ = request_body_done_ ? 0 : receive_end_ - body_begin;
  body_pending_in_receive_ = true;
  // RFC 9110 section 10.1.1: only HTTP/1.1 clients wait for 100; the token is case-insensitive.
  const http::Header *expect = request.find("Expect");
  expect_continue_ = !request_body_done_ && request.version_minor >= 1 && expect != nullptr &&
                     http::iequals(expect->value, "100-continue");
}

core::Task<int> ClientConnection::read_body_piece(std::span<const char> &piece) {
  if (request_body_done_)
    co_return 0;
  if (expect_continue_) {
    expect_continue_ = false;
    if (body_pending_bytes_ == 0) { // a client that did not wait for it needs none
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      int rc = co_await send_bytes(kContinue);
      if (rc < 0)
        co_return rc;
    }
  }
  // Bounded: every turn hands out bytes, ends, or receives at least one byte (a chunked body's
  // framing can take several turns, each consuming input).
  for (int turn = 0; turn < 1 << 20; ++turn) {
    if (body_pending_bytes_ == 0) {
      std::span<char> room(buffers_->head);
      if (request_body_framing_ == http::BodyFraming::ContentLength)
        room = room.first(static_cast<size_t>(
            std::min<uint64_t>(room.size(), request_body_remaining_))); // never past the body
      int32_t got = co_await receive(room, generation_->config.idle_timeout_ms);
      if (got <= 0)
        co_return got == 0 ? -ECONNRESET : got;
      body_pending_ = buffers_->head.data();
      body_pending_bytes_ = static_cast<size_t>(got);
      body_pending_in_receive_ = false;
    }
    if (request_body_framing_ == http::BodyFraming::ContentLength) {
      const size_t take =
          static_cast<size_t>(std::min<uint64_t>(body_pending_bytes_, request_body_remaining_));
      piece = std::span<const char>(body_pending_, take);
      body_pending_ += take;
      body_pending_bytes_ -= take;
      if (body_pending_in_receive_)
        body_bytes_in_receive_ += take;
      request_body_remaining_ -= take;
      request_body_done_ = request_body_remaining_ == 0;
      co_return static_cast<int>(take);
    }
    assert(request_body_framing_ == http::BodyFraming::Chunked);
    const http::ChunkedDecoder::Step step =
        request_chunks_.decode(std::span<const char>(body_pending_, body_pending_bytes_));
    body_pending_ += step.consumed;
    body_pending_bytes_ -= step.consumed;
    if (body_pending_in_receive_)
      body_bytes_in_receive_ += step.consumed;
    switch (step.kind) {
    case http::ChunkedDecoder::Step::Kind::Data:
      piece = std::span<const char>(step.data.data(), step.data.size());
      co_return static_cast<int>(step.data.size());
    case http::ChunkedDecoder::Step::Kind::Done:
      request_body_done_ = true;
      // Bytes received behind the body belong to a pipelined request, which the head buffer
      // cannot keep: the connection ends after this response instead.
      body_read_past_end_ = !body_pending_in_receive_ && body_pending_bytes_ > 0;
      co_return 0;
    case http::ChunkedDecoder::Step::Kind::Error:
      co_return -EPROTO;
    case http::ChunkedDecoder::Step::Kind::NeedMore:
      break;
    }
  }
  co_return -EPROTO;
}

core::Task<bool> ClientConnection::await_request_bytes(uint32_t timeout_ms, Waiting waiting) {
  assert(receive_begin_ == 0 && receive_end_ == 0 && waiting != Waiting::Busy);
  waiting_ = waiting;
  if (waiting == Waiting::NextRequest)
    enter_idle_list();
  bool readable = false;
  uint32_t left_ms = worker_.stopping ? 0 : timeout_ms;
  if (buffers_ != nullptr && left_ms > 0) {
    uint32_t warm_ms = std::min(kWarmWaitMs, left_ms);
    int32_t got = co_await receive(receive_space(), warm_ms);
    if (got > 0) {
      receive_end_ += static_cast<size_t>(got);
      readable = true;
      left_ms = 0;
    } else if (got == -ETIME && warm_ms < left_ms) {
      give_back_buffers(); // a slow next request: wait for it without holding 28 KiB
      if (intercepted_stream_ != nullptr && !intercepted_stream_->has_buffered_plaintext())
        intercepted_stream_->release_idle_buffers(); // and the TLS session's receive buffer
      left_ms -= warm_ms;
    } else {
      left_ms = 0; // end of file, an error, or the whole wait spent
    }
  }
  if (!readable && left_ms > 0 && intercepted_stream_ != nullptr &&
      intercepted_stream_->has_buffered_plaintext()) {
    readable = true; // a record received already: the socket may never become readable again
  } else if (!readable && left_ms > 0) {
    assert(buffers_ == nullptr);
    // POLLIN, or POLLHUP/POLLERR (always reported).
    int32_t ready = co_await core::poll(fd_, POLLIN, left_ms);
    if (ready > 0) {
      // Most wake-ups of an idle connection are its end (the client closed, an eviction,
      // shutdown): peek one byte, so an end takes no buffers. In the frame: the kernel writes it.
      std::array<char, 1> first_byte;
      int32_t peeked = co_await core::recv(fd_, first_byte, 0, MSG_PEEK | MSG_DONTWAIT);
      readable = peeked > 0;
    }
  }
  leave_idle_list();
  waiting_ = Waiting::Busy;
  if (!readable || evicted_)
    co_return false;
  co_return take_buffers();
}

core::Task<ClientConnection::ReadOutcome> ClientConnection::read_request(http::RequestHead &request,
                                                                         size_t *consumed) {
  http::ParseLimits limits;
  limits.header_bytes_max = ConnectionBuffers::kReceiveBytes;
  limits.header_count_max = ConnectionBuffers::kRequestHeadersMax;
  // The whole head must arrive within the header timeout (slowloris defence), counted from the
  // accept for a connection's first request, so a client that connects and sends nothing or
  // half a head is closed then; for later requests from their first byte, since waiting for
  // that byte is keep-alive idling, bounded by the idle timeout.
  const auto header_timeout = std::chrono::milliseconds(generation_->config.header_timeout_ms);
  const bool first_request = requests_answered_ == 0;
  bool started = first_request || receive_end_ > receive_begin_;
  Clock::time_point deadline = (first_request ? accepted_at_ : Clock::now()) + header_timeout;
  http::HeadScan head_scan; // each turn parses only the bytes that came since the last
  for (int turn = 0; turn < 100000; ++turn) {
    if (receive_end_ > receive_begin_) {
      assert(buffers_ != nullptr);
      std::span<const char> input(buffers_->receive.data() + receive_begin_,
                                  receive_end_ - receive_begin_);
      http::ParseResult parsed =
          http::parse_request(input, buffers_->headers, limits, request, head_scan);
      if (parsed.complete()) {
        *consumed = parsed.consumed;
        co_return ReadOutcome::Request;
      }
      bool full = input.size() >= buffers_->receive.size();
      bool implausible = parsed.incomplete() && !http::request_prefix_is_plausible(input);
      if (implausible)
        parsed.error_reason = "not an HTTP request line";
      if (parsed.error() || full || implausible) {
        uint16_t status = parsed.error_status != 0 ? parsed.error_status : 400;
        std::string_view reason = parsed.error_reason;
        if (!parsed.error() && full) {
          status = 431;
          reason = "request head too large";
        }
        co_await refuse_request(status, reason);
        co_return ReadOutcome::Rejected;
      }
    }
    // Make room: move a partial head to the front of the buffer.
    if (receive_begin_ > 0) {
      std::memmove(buffers_->receive.data(), buffers_->receive.data() + receive_begin_,
                   receive_end_ - receive_begin_);
      receive_end_ -= receive_begin_;
      receive_begin_ = 0;
    }
    if (receive_end_ == 0) {
      // Nothing of a head yet: wait for its first byte, giving the buffers back meanwhile.
      uint32_t timeout_ms = started ? remaining_ms(deadline) : generation_->config.idle_timeout_ms;
      bool ready = co_await await_request_bytes(timeout_ms, first_request ? Waiting::FirstRequest
                                                                          : Waiting::NextRequest);
      if (!ready)
        co_return ReadOutcome::Closed; // timeout, end of file, evicted or shutdown
      if (!started) {
        started = true;
        deadline = Clock::now() + header_timeout;
      }
      if (receive_end_ > 0)
        continue; // the wait brought bytes already
    }
    int32_t got = co_await receive(receive_space(), remaining_ms(deadline));
    if (got <= 0)
      co_return ReadOutcome::Closed; // EOF, reset, timeout or shutdown
    receive_end_ += static_cast<size_t>(got);
  }
  co_return ReadOutcome::Closed;
}

void ClientConnection::log_tunnel(Clock::time_point started) {
  if (!generation_->config.access_log)
    return;
  auto elapsed_us =
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count();
  const std::string_view target(tunnel_target_.data(), tunnel_target_bytes_);
  const std::string_view method =
      forward_ ? std::string_view(forward_method_.data(), forward_method_bytes_) : "CONNECT";
  const std::string_view kind = forward_ ? "FORWARD" : "TUNNEL";
  const core::LogStyle &style = core::log_style();
  std::array<char, core::kLogTimeChars> time_text;
  std::string_view time;
  if (style.format == core::LogFormat::Json || style.timestamps)
    time = core::format_log_time(time_text, core::log_clock_now());
  std::array<char, 1024> line;
  if (style.format == core::LogFormat::Text) {
    worker_.log.append(core::format_line_bounded(
        line, "{}{}{} {} {} {} {}.{:03}ms {} up={}", time, time.empty() ? "" : " ", method, target,
        status_, body_bytes_sent_, elapsed_us / 1000, elapsed_us % 1000, kind, tunnel_bytes_up_));
    return;
  }
  std::array<char, 640> target_json; // the client's text: escaped
  const size_t target_bytes = core::append_json_text(target_json, 0, target);
  std::array<char, 48> method_json;
  const size_t method_bytes = core::append_json_text(method_json, 0, method);
  worker_.log.append(core::format_line_bounded(
      line,
      "{{\"time\":\"{}\",\"type\":\"access\",\"method\":\"{}\",\"target\":\"{}\","
      "\"status\":{},\"bytes\":{},\"bytes_up\":{},\"duration_ms\":{}.{:03},"
      "\"cache\":\"{}\"}}",
      time, std::string_view(method_json.data(), method_bytes),
      std::string_view(target_json.data(), target_bytes), status_, body_bytes_sent_,
      tunnel_bytes_up_, elapsed_us / 1000, elapsed_us % 1000, kind));
}

void ClientConnection::log_access(const http::RequestHead &request, Clock::time_point started) {
  if (tunnel_) {
    log_tunnel(started);
    return;
  }
  auto elapsed_us =
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count();
  if (worker_.counters != nullptr)
    worker_.counters->count(request_kind_, outcome_, body_bytes_sent_,
                            static_cast<uint64_t>(elapsed_us));
  if (!generation_->config.access_log)
    return;
  std::string_view method = request.method.substr(0, 16);
  std::string_view target = request.target.substr(0, 400);
  std::string_view upstream = upstream_bytes_ > 0
                                  ? std::string_view(upstream_text_.data(), upstream_bytes_)
                                  : std::string_view();
  const core::LogStyle &style = core::log_style();
  std::array<char, core::kLogTimeChars> time_text;
  std::string_view time;
  if (style.format == core::LogFormat::Json || style.timestamps)
    time = core::format_log_time(time_text, core::log_clock_now());
  std::array<char, 1536> line; // room for every field at its longest, escaped
  if (style.format == core::LogFormat::Text) {
    worker_.log.append(core::format_line_bounded(
        line, "{}{}{} {} {} {} {}.{:03}ms {} {}{}", time, time.empty() ? "" : " ", method, target,
        status_, body_bytes_sent_, elapsed_us / 1000, elapsed_us % 1000, outcome_name(outcome_),
        upstream.empty() ? std::string_view("-") : upstream, abort_ ? " ABORTED" : ""));
    return;
  }
  // The method, target and upstream come from the client or are derived from what it sent:
  // escaped, so a record is always one valid JSON object.
  std::array<char, 512> target_json;
  std::array<char, 48> method_json;
  std::array<char, 300> upstream_json;
  auto json = [](std::span<char> out, std::string_view text) {
    return std::string_view(out.data(), core::append_json_text(out, 0, text));
  };
  worker_.log.append(core::format_line_bounded(
      line,
      "{{\"time\":\"{}\",\"type\":\"access\",\"method\":\"{}\",\"target\":\"{}\","
      "\"status\":{},\"bytes\":{},\"duration_ms\":{}.{:03},\"cache\":\"{}\","
      "\"upstream\":\"{}\",\"aborted\":{}}}",
      time, json(method_json, method), json(target_json, target), status_, body_bytes_sent_,
      elapsed_us / 1000, elapsed_us % 1000, outcome_name(outcome_), json(upstream_json, upstream),
      abort_ ? "true" : "false"));
}

core::Task<void> ClientConnection::close_socket() {
  if (lingering_close_ && !abort_) {
    // The client may still be sending the request we refused; closing with unread bytes would
    // reset the connection and could destroy our error response in flight. Send FIN, then read
    // and drop what comes for a short, bounded while (RFC 9112 section 9.6).
    assert(buffers_ != nullptr); // a refused request was read into them
    co_await core::shutdown(fd_, SHUT_WR);
    for (int turn = 0; turn < 64; ++turn) {
      int32_t got = co_await core::recv(fd_, buffers_->receive, 500);
      if (got <= 0)
        break;
    }
  }
  if (abort_) {
    // RST instead of FIN: the client must not take a cut-off body for a complete one.
    linger reset{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
  }
  co_await core::close(fd_);
  fd_ = -1;
}

void ClientConnection::begin_response(const http::RequestHead &request) {
  status_ = 0;
  body_bytes_sent_ = 0;
  outcome_ = CacheOutcome::None;
  request_kind_ = RequestKind::Other;
  upstream_bytes_ = 0;
  head_request_ = request.method == "HEAD";
  request_version_minor_ = static_cast<uint8_t>(request.version_minor);
  keep_alive_ = request.keep_alive && !worker_.stopping;
}

core::Task<void> ClientConnection::serve(RequestHandler handler) {
  if (admission_ == ConnectionsPerClient::Admission::Refused) {
    // The refusal answers and closes the socket; this connection only ends.
    worker_.refusals.refuse(fd_, RefusalReason::PerClientCap);
    fd_ = -1;
    co_return;
  }
  for (;;) { // one turn per request; ends when the connection does
    http::RequestHead request;
    size_t consumed = 0;
    ReadOutcome outcome = co_await read_request(request, &consumed);
    if (outcome != ReadOutcome::Request)
      break;
    Clock::time_point started = Clock::now();
    // The request boundary: a reload shows from this request on. A pointer compare when
    // nothing changed.
    if (const auto &newest = worker_.current_generation(); newest != generation_)
      generation_ = newest;
    begin_response(request);
    request_head_bytes_ = consumed;
    begin_request_body(request, consumed);
    // "Content-Length: 0" is no body (RFC 9110 section 8.6): what many clients send with a
    // bodiless POST, such as a control purge.
    const bool has_body =
        request.framing != http::BodyFraming::None &&
        !(request.framing == http::BodyFraming::ContentLength && request.content_length == 0);
    // With --allow-push, a push's body is the handler's to stream upstream (push_relay.h).
    const bool relayed_push = generation_->config.allow_push && is_push_method(request.method) &&
                              request.path.starts_with("/v2/");
    if (has_body && !relayed_push) {
      // regcache serves the pull API only; a request body (a push) is refused, and the
      // connection closed (after draining) rather than reading a body of unknown use.
      keep_alive_ = false;
      lingering_close_ = true;
      if (request.method == "GET" || request.method == "HEAD") {
        // RFC 9110 section 9.3.1: a body on a GET has no meaning; a client that sends one is
        // not a registry client, and its body may be another request in disguise.
        co_await send_oci_error(400, OciErrorCode::Unsupported,
                                "a GET or HEAD request must not carry a body");
      } else {
        co_await send_oci_error(405, OciErrorCode::Unsupported,
                                "regcache is a pull-through cache: pushes are not supported");
      }
    } else {
      co_await handler(*this, request);
    }
    log_access(request, started);
    if (tunnel_)
      break; // the tunnel was the connection's last use; its buffers are gone
    if (request_body_pending() || body_read_past_end_)
      break; // the next request's start is unknown (the response said Connection: close)
    receive_begin_ += consumed + body_bytes_in_receive_;
    requests_answered_++;
    if (receive_begin_ == receive_end_)
      receive_begin_ = receive_end_ = 0;
    if (abort_ || broken_ || !keep_alive_ || worker_.stopping || status_ == 0)
      break;
  }
  co_await close_socket();
}

} // namespace regcache::registry

#include "registry/serve/client_connection.h"

#include <fmt/format.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cstring>

#include "core/io_ops.h"
#include "http/request_parser.h"
#include "registry/serve/request_handler.h"

namespace regcache::registry {
namespace {

using Clock = std::chrono::steady_clock;

uint32_t remaining_ms(Clock::time_point deadline) {
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 1 : static_cast<uint32_t>(left);
}

} // namespace

std::string_view outcome_name(CacheOutcome outcome) {
  switch (outcome) {
  case CacheOutcome::None:
    return "-";
  case CacheOutcome::Hit:
    return "HIT";
  case CacheOutcome::Revalidated:
    return "REVALIDATED";
  case CacheOutcome::Miss:
    return "MISS";
  case CacheOutcome::Follow:
    return "FOLLOW";
  case CacheOutcome::Stale:
    return "STALE";
  case CacheOutcome::Pass:
    return "PASS";
  case CacheOutcome::Error:
    return "ERROR";
  }
  return "-";
}

ClientConnection::ClientConnection(WorkerContext &worker, int fd) : worker_(worker), fd_(fd) {
  next = worker_.connections;
  if (next != nullptr)
    next->prev = this;
  worker_.connections = this;
  worker_.connection_count++;
}

ClientConnection::~ClientConnection() {
  if (prev != nullptr)
    prev->next = next;
  if (next != nullptr)
    next->prev = prev;
  if (worker_.connections == this)
    worker_.connections = next;
  worker_.connection_count--;
}

void ClientConnection::stop_if_idle() {
  // The pending recv ends with 0 bytes and the serve loop leaves; a busy connection sees
  // `stopping` after its response.
  if (idle_)
    ::shutdown(fd_, SHUT_RD);
}

void ClientConnection::set_upstream(std::string_view authority) {
  upstream_bytes_ = std::min(authority.size(), upstream_text_.size());
  std::memcpy(upstream_text_.data(), authority.data(), upstream_bytes_);
}

http::HeadWriter ClientConnection::start_head(uint16_t status) {
  status_ = status;
  http::HeadWriter head(head_buffer_);
  head.status_line(status);
  head.header("Docker-Distribution-API-Version", "registry/2.0");
  return head;
}

core::Task<int> ClientConnection::send_bytes(std::span<const char> bytes) {
  int rc = co_await core::send_all(fd_, bytes, worker_.config.idle_timeout_ms);
  if (rc < 0)
    broken_ = true;
  if (rc == 0 && counting_body_)
    body_bytes_sent_ += bytes.size();
  co_return rc;
}

core::Task<int> ClientConnection::send_head(http::HeadWriter &head) {
  if (worker_.stopping)
    head.header("Connection", "close");
  head.end();
  assert(!head.overflowed());
  counting_body_ = false;
  int rc = co_await core::send_all(fd_, std::span<const char>(head.view().data(), head.size()),
                                   worker_.config.idle_timeout_ms);
  if (rc < 0)
    broken_ = true;
  counting_body_ = true;
  co_return rc;
}

core::Task<int> ClientConnection::send_simple(uint16_t status, std::string_view content_type,
                                              std::string_view body,
                                              std::span<const http::Header> extra_headers) {
  http::HeadWriter head = start_head(status);
  if (!content_type.empty())
    head.header("Content-Type", content_type);
  head.header_uint("Content-Length", body.size());
  for (const http::Header &header : extra_headers)
    head.header(header.name, header.value);
  int rc = co_await send_head(head);
  if (rc < 0 || head_request_ || body.empty())
    co_return rc;
  co_return co_await send_bytes(std::span<const char>(body.data(), body.size()));
}

core::Task<int> ClientConnection::send_oci_error(uint16_t status, OciErrorCode code,
                                                 std::string_view message,
                                                 std::span<const http::Header> extra_headers) {
  std::array<char, 1024> body;
  size_t bytes = format_oci_error(body, code, message);
  co_return co_await send_simple(status, "application/json", std::string_view(body.data(), bytes),
                                 extra_headers);
}

core::Task<int> ClientConnection::drain_pipe(const core::Pipe &pipe, uint32_t bytes) {
  const uint32_t timeout_ms = worker_.config.idle_timeout_ms;
  for (int stalls = 0; bytes > 0;) { // each turn sends bytes, waits for room, or returns
    int32_t sent = co_await core::splice(pipe.read_fd, -1, fd_, -1, bytes, timeout_ms);
    if (sent == -EAGAIN && stalls++ < 1000000) {
      // The socket buffer is full: splice into a non-blocking socket does not wait by itself.
      int32_t ready = co_await core::poll(fd_, POLLOUT, timeout_ms);
      if (ready >= 0)
        continue;
      sent = ready;
    }
    if (sent <= 0) {
      broken_ = true;
      co_return sent == 0 ? -EPIPE : sent;
    }
    bytes -= static_cast<uint32_t>(sent);
    body_bytes_sent_ += static_cast<uint64_t>(sent);
  }
  co_return 0;
}

core::Task<int> ClientConnection::send_file_range(int file_fd, uint64_t offset, uint64_t bytes) {
  std::array<core::Pipe, 2> pipes;
  size_t pipe_count = 0;
  if (worker_.pipes.acquire(pipes[0]))
    pipe_count = 1;
  if (pipe_count == 1 && bytes > pipes[0].capacity_bytes && worker_.pipes.acquire(pipes[1]))
    pipe_count = 2;
  if (pipe_count == 0) {
    // No pipe left (fd limit): copy through the head buffer, which is free while a body streams.
    while (bytes > 0) {
      size_t chunk = static_cast<size_t>(std::min<uint64_t>(bytes, head_buffer_.size()));
      int32_t got =
          co_await core::read(file_fd, std::span<char>(head_buffer_.data(), chunk), offset);
      if (got <= 0)
        co_return got == 0 ? -EIO : got;
      int rc =
          co_await send_bytes(std::span<const char>(head_buffer_.data(), static_cast<size_t>(got)));
      if (rc < 0)
        co_return rc;
      offset += static_cast<uint64_t>(got);
      bytes -= static_cast<uint64_t>(got);
    }
    co_return 0;
  }
  // With two pipes, the next file chunk is spliced into one (in the kernel's io-wq) while the
  // other drains to the socket, so reading the file and sending overlap.
  core::PendingOp fill;
  std::array<uint32_t, 2> in_pipe{0, 0};
  size_t current = 0;
  uint64_t queued = 0; // bytes of the range handed to a fill so far
  int rc = 0;
  auto chunk_for = [&](size_t index) {
    return static_cast<uint32_t>(std::min<uint64_t>(bytes - queued, pipes[index].capacity_bytes));
  };
  {
    uint32_t chunk = chunk_for(0);
    int32_t filled =
        co_await core::splice(file_fd, static_cast<int64_t>(offset), pipes[0].write_fd, -1, chunk);
    if (filled <= 0)
      rc = filled == 0 ? -EIO : filled;
    else {
      in_pipe[0] = static_cast<uint32_t>(filled);
      queued += static_cast<uint64_t>(filled);
    }
  }
  while (rc == 0 && in_pipe[current] > 0) { // each turn empties one pipe
    size_t next = current ^ 1;
    if (pipe_count == 2 && queued < bytes) {
      fill.start_splice(file_fd, static_cast<int64_t>(offset + queued), pipes[next].write_fd,
                        chunk_for(next));
    }
    rc = co_await drain_pipe(pipes[current], in_pipe[current]);
    if (rc == 0)
      in_pipe[current] = 0;
    if (fill.started()) {
      int32_t filled =
          co_await fill.finish(); // always awaited: the kernel owns the pipe until then
      if (rc == 0 && filled <= 0)
        rc = filled == 0 ? -EIO : filled;
      if (filled > 0) {
        in_pipe[next] = static_cast<uint32_t>(filled);
        queued += static_cast<uint64_t>(filled);
      }
    } else if (rc == 0 && pipe_count == 1 && queued < bytes) {
      int32_t filled = co_await core::splice(file_fd, static_cast<int64_t>(offset + queued),
                                             pipes[0].write_fd, -1, chunk_for(0));
      if (filled <= 0)
        rc = filled == 0 ? -EIO : filled;
      else {
        in_pipe[0] = static_cast<uint32_t>(filled);
        queued += static_cast<uint64_t>(filled);
      }
      next = 0;
    }
    current = next;
  }
  for (size_t i = 0; i < pipe_count; ++i) {
    // A pipe that may still hold bytes of this response cannot serve another one.
    if (in_pipe[i] == 0) {
      worker_.pipes.release(pipes[i]);
    } else {
      worker_.pipes.discard(pipes[i]);
    }
  }
  co_return rc;
}

core::Task<ClientConnection::ReadOutcome> ClientConnection::read_request(http::RequestHead &head,
                                                                         size_t *consumed) {
  const WorkerContext &worker = worker_;
  http::ParseLimits limits;
  limits.header_bytes_max = kReceiveBytes;
  limits.header_count_max = kRequestHeadersMax;
  // Keep-alive: waiting for the first byte of the next request uses the idle timeout; once it
  // has started, the whole head must arrive within the header timeout (slowloris defence).
  Clock::time_point deadline{};
  bool started = receive_end_ > receive_begin_;
  if (started)
    deadline = Clock::now() + std::chrono::milliseconds(worker.config.header_timeout_ms);
  size_t scanned = 0;
  for (int turn = 0; turn < 100000; ++turn) {
    std::span<const char> input(receive_.data() + receive_begin_, receive_end_ - receive_begin_);
    if (!input.empty()) {
      bool ended = http::find_head_end(input, scanned) != 0;
      scanned = input.size();
      http::ParseResult parsed = http::parse_request(input, headers_, limits, head);
      if (parsed.complete()) {
        *consumed = parsed.consumed;
        co_return ReadOutcome::Request;
      }
      bool full = input.size() >= receive_.size();
      bool implausible = parsed.incomplete() && !http::request_prefix_is_plausible(input);
      if (implausible)
        parsed.error_reason = "not an HTTP request line";
      if (parsed.error() || ended || full || implausible) {
        head_request_ = false;
        if (!parsed.error() && full) {
          parsed.error_status = 431;
          parsed.error_reason = "request head too large";
        }
        std::array<char, 256> message;
        auto result = fmt::format_to_n(message.data(), message.size(), "malformed request: {}",
                                       parsed.error_reason);
        uint16_t status = parsed.error_status != 0 ? parsed.error_status : 400;
        status_ = status;
        http::HeadWriter reply = start_head(status);
        reply.header("Content-Type", "text/plain");
        size_t bytes = std::min(result.size, message.size());
        reply.header_uint("Content-Length", bytes + 1);
        reply.header("Connection", "close");
        if (co_await send_head(reply) == 0) {
          message[std::min(bytes, message.size() - 1)] = '\n';
          co_await send_bytes(std::span<const char>(message.data(), bytes + 1));
        }
        lingering_close_ = true;
        co_return ReadOutcome::Rejected;
      }
    }
    // Make room: move a partial head to the front of the buffer.
    if (receive_begin_ > 0) {
      std::memmove(receive_.data(), receive_.data() + receive_begin_,
                   receive_end_ - receive_begin_);
      receive_end_ -= receive_begin_;
      receive_begin_ = 0;
    }
    idle_ = !started;
    if (idle_ && worker_.stopping)
      co_return ReadOutcome::Closed;
    uint32_t timeout_ms = started ? remaining_ms(deadline) : worker.config.idle_timeout_ms;
    int32_t got = co_await core::recv(
        fd_, std::span<char>(receive_.data() + receive_end_, receive_.size() - receive_end_),
        timeout_ms);
    idle_ = false;
    if (got <= 0)
      co_return ReadOutcome::Closed; // EOF, reset, timeout or shutdown
    if (!started) {
      started = true;
      deadline = Clock::now() + std::chrono::milliseconds(worker.config.header_timeout_ms);
    }
    receive_end_ += static_cast<size_t>(got);
  }
  co_return ReadOutcome::Closed;
}

void ClientConnection::log_access(const http::RequestHead &head, Clock::time_point started) {
  if (!worker_.config.access_log)
    return;
  auto elapsed_us =
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count();
  std::array<char, 1024> line;
  std::string_view target = head.target.substr(0, 400);
  auto result = fmt::format_to_n(line.data(), line.size() - 1, "{} {} {} {} {}.{:03}ms {} {}{}\n",
                                 head.method.substr(0, 16), target, status_, body_bytes_sent_,
                                 elapsed_us / 1000, elapsed_us % 1000, outcome_name(outcome_),
                                 upstream_bytes_ > 0
                                     ? std::string_view(upstream_text_.data(), upstream_bytes_)
                                     : std::string_view("-"),
                                 abort_ ? " ABORTED" : "");
  size_t size = std::min(result.size, line.size() - 1);
  line[size - 1] = '\n';
  worker_.log.append(std::string_view(line.data(), size));
}

core::Task<void> ClientConnection::close_socket() {
  if (lingering_close_ && !abort_) {
    // The client may still be sending the request we refused; closing with unread bytes would
    // reset the connection and could destroy our error response in flight. Send FIN, then read
    // and drop what comes for a short, bounded while (RFC 9112 section 9.6).
    co_await core::shutdown(fd_, SHUT_WR);
    for (int turn = 0; turn < 64; ++turn) {
      int32_t got = co_await core::recv(fd_, receive_, 500);
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

core::Task<void> ClientConnection::serve() {
  for (;;) {
    http::RequestHead head;
    size_t consumed = 0;
    ReadOutcome outcome = co_await read_request(head, &consumed);
    if (outcome != ReadOutcome::Request)
      break;
    Clock::time_point started = Clock::now();
    status_ = 0;
    body_bytes_sent_ = 0;
    counting_body_ = false;
    outcome_ = CacheOutcome::None;
    upstream_bytes_ = 0;
    head_request_ = head.method == "HEAD";
    bool keep_alive = head.keep_alive;
    if (head.framing != http::BodyFraming::None) {
      // regcache serves the pull API only; a request body (a push) is refused, and the
      // connection closed rather than reading a body of unknown use.
      keep_alive = false;
      co_await send_oci_error(405, OciErrorCode::Unsupported,
                              "regcache is a pull-through cache: pushes are not supported",
                              std::span<const http::Header>());
    } else {
      co_await handle_request(*this, head);
    }
    log_access(head, started);
    receive_begin_ += consumed;
    if (abort_ || broken_ || !keep_alive || worker_.stopping || status_ == 0)
      break;
  }
  co_await close_socket();
}

core::Task<void> serve_client(WorkerContext &worker, int fd) {
  ClientConnection connection(worker, fd);
  co_await connection.serve();
}

} // namespace regcache::registry

#pragma once
// One client connection: it owns the socket, the receive buffer the request views point into,
// and the buffer response heads are written in. It lives in the frame of its serve coroutine
// and is the only owner of that state; responders borrow it for one request at a time.
#include <array>
#include <chrono>
#include <cstdint>
#include <span>
#include <string_view>

#include "core/pipe_pool.h"
#include "core/task.h"
#include "http/head_writer.h"
#include "http/message_head.h"
#include "registry/api/oci_error.h"
#include "registry/serve/worker_context.h"

namespace regcache::registry {

// How a response was produced, for the access log.
enum class CacheOutcome : uint8_t { None, Hit, Revalidated, Miss, Follow, Stale, Pass, Error };
std::string_view outcome_name(CacheOutcome outcome);

class ClientConnection {
public:
  static constexpr size_t kReceiveBytes = 16 * 1024;
  static constexpr size_t kHeadBytes = 8 * 1024;
  static constexpr size_t kRequestHeadersMax = 64;

  ClientConnection(WorkerContext &worker, int fd);
  ~ClientConnection();
  ClientConnection(const ClientConnection &) = delete;
  ClientConnection &operator=(const ClientConnection &) = delete;

  // Serves requests until the client leaves, an error, or shutdown.
  core::Task<void> serve();
  // Shutdown: a connection waiting for its next request is told to stop now.
  void stop_if_idle();

  WorkerContext &worker() { return worker_; }
  int fd() const { return fd_; }

  // --- for responders ---
  // A head writer over this connection's head buffer, with the status line and the headers
  // every response carries.
  http::HeadWriter start_head(uint16_t status);
  // Finishes `head` (Content-Length or chunked is the caller's business) and sends it.
  core::Task<int> send_head(http::HeadWriter &head);
  core::Task<int> send_bytes(std::span<const char> bytes);
  // A complete small response: head + body (the body is not sent for HEAD requests).
  core::Task<int> send_simple(uint16_t status, std::string_view content_type, std::string_view body,
                              std::span<const http::Header> extra_headers = {});
  core::Task<int> send_oci_error(uint16_t status, OciErrorCode code, std::string_view message,
                                 std::span<const http::Header> extra_headers = {});
  // Sends bytes [offset, offset + bytes) of a file with splice (file -> pipe -> socket).
  core::Task<int> send_file_range(int file_fd, uint64_t offset, uint64_t bytes);
  // The response cannot be completed honestly: reset the connection instead of ending it.
  void abort_response() { abort_ = true; }

  bool is_head_request() const { return head_request_; }
  void set_outcome(CacheOutcome outcome) { outcome_ = outcome; }
  void set_upstream(std::string_view authority);

  // Intrusive list of the worker's connections.
  ClientConnection *prev = nullptr;
  ClientConnection *next = nullptr;

private:
  enum class ReadOutcome : uint8_t { Request, Closed, Rejected };
  core::Task<ReadOutcome> read_request(http::RequestHead &head, size_t *consumed);
  void log_access(const http::RequestHead &head, std::chrono::steady_clock::time_point started);
  core::Task<void> close_socket();
  // Sends `bytes` that are in `pipe` to the client (splice pipe -> socket).
  core::Task<int> drain_pipe(const core::Pipe &pipe, uint32_t bytes);

  WorkerContext &worker_;
  int fd_;
  bool idle_ = true;
  bool abort_ = false;
  bool broken_ = false;
  bool lingering_close_ = false; // a refused request: drain before closing  // a send failed: the
                                 // client is gone or stuck
  bool head_request_ = false;
  uint16_t status_ = 0;
  uint64_t body_bytes_sent_ = 0;
  bool counting_body_ = false;
  CacheOutcome outcome_ = CacheOutcome::None;
  std::array<char, 128> upstream_text_{}; // copied: the routing result dies before the log line
  size_t upstream_bytes_ = 0;
  size_t receive_begin_ = 0;
  size_t receive_end_ = 0;
  std::array<char, kReceiveBytes> receive_;
  std::array<http::Header, kRequestHeadersMax> headers_;
  std::array<char, kHeadBytes> head_buffer_;
};

// Serves one accepted socket; spawned by the server for every accept.
core::Task<void> serve_client(WorkerContext &worker, int fd);

} // namespace regcache::registry

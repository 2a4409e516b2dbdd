#pragma once
// One client connection: it owns the socket, the buffers the request views point into and
// response heads are written in (borrowed from the worker's pool only while a request is read
// or answered, see connection_buffers.h), and its places in the worker's connection lists. It
// lives in the frame of its serve coroutine and is the only owner of that state; responders
// borrow it for one request at a time.
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "tls/tls_stream.h"

#include "core/pipe_pool.h"
#include "core/task.h"
#include "http/chunked_decoder.h"
#include "http/head_writer.h"
#include "http/message_head.h"
#include "registry/api/oci_error.h"
#include "registry/serve/cache_outcome.h"
#include "registry/serve/connection_buffers.h"
#include "registry/serve/connections_per_client.h"
#include "registry/serve/worker_context.h"

namespace regcache::registry {

// How a response was produced, for the access log.

class ClientConnection;
// Answers one parsed request on `client` (request_handler.h has the registry's).
using RequestHandler = core::Task<void> (*)(ClientConnection &client,
                                            const http::RequestHead &request);

class ClientConnection {
public:
  // A connection that has just answered keeps its buffers this long for the next request
  // (a pull asks for its next blob at once, a benchmark faster still: one recv, no poll); then
  // it gives them back and waits for the next request with a poll that holds no buffer.
  static constexpr uint32_t kWarmWaitMs = 100;

  ClientConnection(WorkerContext &worker, int fd);
  ~ClientConnection();
  ClientConnection(const ClientConnection &) = delete;
  ClientConnection &operator=(const ClientConnection &) = delete;

  // Serves requests with `handler` until the client leaves, an error, or shutdown.
  core::Task<void> serve(RequestHandler handler);
  // Shutdown: a connection waiting for its next request is told to stop now.
  void stop_if_idle();
  // At the connection cap: closes the connection that has waited longest between requests, so
  // a new client can come in. False when no connection is idle. The closed one stops counting
  // against the cap at once (it is in worker.connections_closing until it is gone).
  static bool close_oldest_idle(WorkerContext &worker);
  // Whether `worker` may take one more connection now, closing an idle one if it must.
  static bool make_room(WorkerContext &worker);

  WorkerContext &worker() { return worker_; }
  // The configuration generation of the request being served (taken when it began), which
  // the whole request reads, also after a reload published a newer one.
  const ConfigGeneration &generation() const { return *generation_; }
  const std::shared_ptr<const ConfigGeneration> &generation_held() const { return generation_; }
  int fd() const { return fd_; }

  // --- proxy mode ---
  // From now on the connection's bytes go through `stream` (a TLS session regcache terminates
  // for an intercepted CONNECT, over this connection's socket), and its requests are routed to
  // the registry `ns` names (as a ?ns= value, registry/upstream/upstream_router.h) whatever
  // they say. Called between requests, with nothing of a next request received.
  void adopt_intercepted_stream(std::unique_ptr<tls::TlsStream> stream, std::string_view ns);
  bool intercepted() const { return intercept_query_bytes_ > 0; }
  // "ns=<host>" for an intercepted connection: the query its requests are routed by.
  std::string_view intercept_query() const {
    return std::string_view(intercept_query_.data(), intercept_query_bytes_);
  }
  // A CONNECT answered: "200 Connection established" with no framing headers (RFC 9110
  // section 9.3.6), sent on the plain socket. The connection then carries another protocol.
  core::Task<int> send_connect_established();
  // After a CONNECT's 200: the connection persists (the TLS session's requests come next).
  void keep_alive_after_connect() { keep_alive_ = !worker_.stopping; }

  // --- for responders ---
  // The connection decides how every response is framed and whether the connection persists
  // (RFC 9112 sections 6 and 9.3): responders say what they know of the body's length and send
  // it through send_body; they never write Content-Length, Transfer-Encoding or Connection.
  //
  // A head writer over this connection's head buffer, with the status line and the headers
  // every response carries.
  http::HeadWriter start_head(uint16_t status);
  // The body of the response being started has `bytes` bytes (for a HEAD: the GET's length).
  void frame_length(http::HeadWriter &head, uint64_t bytes);
  // The body's length is not known before it ends: chunked for an HTTP/1.1 client; an HTTP/1.0
  // client cannot take chunked (RFC 9112 section 7), so the body ends when the connection
  // closes.
  void frame_unknown_length(http::HeadWriter &head);
  // Adds Connection when needed and sends the head; the framing must have been chosen.
  core::Task<int> send_head(http::HeadWriter &head);
  // The head and the whole body of a response framed with frame_length(body.size()), in one
  // sendmsg (a memory hit: one system call per response). For a HEAD request, the head alone.
  core::Task<int> send_head_and_body(http::HeadWriter &head, std::span<const char> body);
  // Body bytes of the response, chunk-encoded when its framing is chunked. Nothing is sent for a
  // HEAD request.
  core::Task<int> send_body(std::span<const char> bytes);
  // Bytes [offset, offset + bytes) of a file, as body bytes (splice: file -> pipe -> socket).
  core::Task<int> send_body_file(int file_fd, uint64_t offset, uint64_t bytes);
  // The end of a body whose length was unknown (the last chunk); nothing for other framings.
  core::Task<int> end_body();
  // A complete small response: head + body (the body is not sent for HEAD requests).
  core::Task<int> send_simple(uint16_t status, std::string_view content_type, std::string_view body,
                              std::span<const http::Header> extra_headers = {});
  core::Task<int> send_oci_error(uint16_t status, OciErrorCode code, std::string_view message,
                                 std::span<const http::Header> extra_headers = {});
  // The connection ends after this response (Connection: close is sent).
  void close_after_response() { keep_alive_ = false; }
  // The response cannot be completed honestly: reset the connection instead of ending it.
  void abort_response() { abort_ = true; }

  // The next piece of the request's body (a push's), a view into the connection's buffers valid
  // until the next call: > 0 its bytes, 0 the end of the body, < 0 -errno (-ETIME: the client
  // sent nothing for the idle timeout, which bounds every read as nginx's client_body_timeout
  // does; -ECONNRESET: it closed early; -EPROTO: broken chunked framing). When the client sent
  // Expect: 100-continue, the first call answers 100 Continue (RFC 9110 section 10.1.1): a
  // body is only asked for once it has somewhere to go. No memory beyond the buffers held.
  core::Task<int> read_body_piece(std::span<const char> &piece);
  // The request has a body not yet read to its end: the connection cannot find the next request
  // and closes after this response (finish_head says so).
  bool request_body_pending() const { return !request_body_done_; }
  // The connection ends after this response, and reads what the client still sends for a short,
  // bounded while first (a refused CONNECT may have its TLS hello right behind the head): our
  // answer is not lost to a reset.
  void drain_then_close() {
    keep_alive_ = false;
    lingering_close_ = true;
  }

  // --- for tunnels (registry/serve/connect_tunnel.h) ---
  // Bytes the client sent right behind the request head being answered, already received
  // (a tunnel's first bytes). Valid until release_buffers_for_tunnel().
  std::span<const char> received_after_request() const;
  // The request becomes a tunnel to `peer_fd`: the 200 is sent, the connection ends after it,
  // and its access-log line names `target` (copied here: the request's views die with the
  // buffers). Then the buffers go back to the pool: splicing needs none.
  core::Task<int> send_tunnel_established(std::string_view target, int peer_fd);
  // A plain-HTTP request forwarded to another host (plain_forward.h): the destination's answer,
  // whose status line said `status`, is relayed as it comes, then the connection ends. Logged
  // and cut like a tunnel.
  void begin_forward(std::string_view method, std::string_view target, int peer_fd,
                     uint16_t status);
  void release_buffers_for_tunnel();
  // At the tunnel's end, for its log line: bytes client -> destination and back.
  void end_tunnel(uint64_t bytes_up, uint64_t bytes_down);
  // Shutdown past the grace: ends the tunnel this connection carries, if any (both sockets are
  // shut down, which wakes its splices; a plain syscall that never blocks).
  void cut_tunnel();

  bool is_head_request() const { return head_request_; }
  // Chunked coding is HTTP/1.1's (RFC 9112 section 7).
  bool can_chunk() const { return request_version_minor_ >= 1; }
  void set_outcome(CacheOutcome outcome) { outcome_ = outcome; }
  CacheOutcome outcome() const { return outcome_; }
  void set_request_kind(RequestKind kind) { request_kind_ = kind; }
  void set_upstream(std::string_view authority);

  // Intrusive list of the worker's connections.
  ClientConnection *prev = nullptr;
  ClientConnection *next = nullptr;

private:
  enum class ReadOutcome : uint8_t { Request, Closed, Rejected };
  // Where the connection is between requests (for the idle list and the timeouts).
  enum class Waiting : uint8_t {
    Busy,         // reading a head, or answering a request
    FirstRequest, // accepted, nothing received yet: the header timeout runs from the accept
    NextRequest,  // kept alive after a response, nothing buffered: the idle timeout runs
  };
  // Waits until the first byte of a request can be read, with no buffers held after
  // kWarmWaitMs. False when the connection is to end (timeout, EOF, evicted, shutdown).
  core::Task<bool> await_request_bytes(uint32_t timeout_ms, Waiting waiting);
  bool take_buffers();
  void give_back_buffers();
  void enter_idle_list();
  void leave_idle_list();
  std::span<char> receive_space() {
    return std::span<char>(buffers_->receive.data() + receive_end_,
                           buffers_->receive.size() - receive_end_);
  }
  // How the body of the response being written is delimited.
  enum class BodyFraming : uint8_t { Unset, Length, Chunked, UntilClose };
  core::Task<ReadOutcome> read_request(http::RequestHead &request, size_t *consumed);
  core::Task<void> refuse_request(uint16_t status, std::string_view reason);
  void begin_response(const http::RequestHead &request);
  // Where the body of a request whose head is `head_bytes` long starts, and how it is framed.
  void begin_request_body(const http::RequestHead &request, size_t head_bytes);
  // Counts the request (always) and writes its access-log line (when the log is on).
  void log_access(const http::RequestHead &request, std::chrono::steady_clock::time_point started);
  // A tunnel's line: its own counters count it (tunnel_counters.h), not the request counters.
  void log_tunnel(std::chrono::steady_clock::time_point started);
  core::Task<void> close_socket();
  core::Task<int> send_bytes(std::span<const char> bytes);
  // recv on the socket, or a read of the intercepted stream.
  core::Task<int> receive(std::span<char> buffer, uint32_t timeout_ms);
  // Adds Connection when needed and ends the head (send_head's first half).
  std::span<const char> finish_head(http::HeadWriter &head);
  core::Task<int> send_chunk_head(uint64_t chunk_bytes);

  WorkerContext &worker_;
  // Held from a request's start until the next one's: a reload frees the old generation only
  // once no request of this connection can still read it.
  std::shared_ptr<const ConfigGeneration> generation_;
  int fd_;
  const std::chrono::steady_clock::time_point accepted_at_;
  ConnectionBuffers *buffers_ = nullptr; // from worker_.connection_buffers while needed
  uint64_t requests_answered_ = 0;
  Waiting waiting_ = Waiting::FirstRequest;
  bool evicted_ = false; // closed by close_oldest_idle: ends at its next wake-up
  bool in_idle_list_ = false;
  ClientConnection *idle_prev_ = nullptr;
  ClientConnection *idle_next_ = nullptr;
  // The client's address as the per-client limit counts it; counted_ when it was.
  ClientKey client_key_{};
  ConnectionsPerClient::Admission admission_ = ConnectionsPerClient::Admission::Uncounted;
  bool abort_ = false;
  bool broken_ = false;          // a send failed: the client is gone or stuck
  bool lingering_close_ = false; // a refused request: drain before closing
  bool head_request_ = false;
  // The request being answered: its HTTP minor version, and whether the connection stays open
  // after the response. Set per request; cleared when a response must end the connection.
  uint8_t request_version_minor_ = 1;
  bool keep_alive_ = false;
  BodyFraming response_framing_ = BodyFraming::Unset;
  bool head_sent_ = false; // of the response being written
  uint16_t status_ = 0;
  uint64_t body_bytes_sent_ = 0;
  CacheOutcome outcome_ = CacheOutcome::None;
  RequestKind request_kind_ = RequestKind::Other;
  std::array<char, 128> upstream_text_{}; // copied: the routing result dies before the log line
  size_t upstream_bytes_ = 0;
  // The request body (read_body_piece). Bytes received and not yet handed out are
  // [body_pending_, +body_pending_bytes_): first those in the receive buffer right behind the
  // head (counted in body_bytes_in_receive_, consumed with the head), then each recv's, which
  // go into buffers_->head: no response head is written while a body is read.
  http::BodyFraming request_body_framing_ = http::BodyFraming::None;
  bool request_body_done_ = true;
  bool expect_continue_ = false;
  bool body_pending_in_receive_ = false;
  bool body_read_past_end_ = false;     // a recv brought bytes behind a chunked body: closes
  uint64_t request_body_remaining_ = 0; // Content-Length bytes not yet received
  const char *body_pending_ = nullptr;
  size_t body_pending_bytes_ = 0;
  size_t body_bytes_in_receive_ = 0;
  http::ChunkedDecoder request_chunks_;
  size_t receive_begin_ = 0; // received bytes not consumed: buffers_->receive[begin, end)
  size_t receive_end_ = 0;
  // Proxy mode: the TLS session of an intercepted CONNECT, and the routing query it gives.
  std::unique_ptr<tls::TlsStream> intercepted_stream_;
  std::array<char, 8 + 260> intercept_query_{};
  size_t intercept_query_bytes_ = 0;
  size_t request_head_bytes_ = 0; // of the request being answered, from receive_begin_
  // A CONNECT tunnel: its destination's socket (shut down by cut_tunnel), its target for the log
  // and the bytes it carried.
  bool tunnel_ = false;
  bool forward_ = false; // a forwarded plain-HTTP request rather than a CONNECT
  int tunnel_peer_fd_ = -1;
  std::array<char, 16> forward_method_{};
  size_t forward_method_bytes_ = 0;
  std::array<char, 300> tunnel_target_{}; // host:port, at most 255 + 8 bytes
  size_t tunnel_target_bytes_ = 0;
  uint64_t tunnel_bytes_up_ = 0;
};

} // namespace regcache::registry

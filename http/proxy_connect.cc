#include "http/proxy_connect.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <chrono>
#include <cstring>
#include <utility>

#include "core/byte_stream.h"
#include "core/io_ops.h"
#include "core/resolver.h"
#include "core/socket_address.h"
#include "http/head_writer.h"
#include "http/response_parser.h"

namespace regcache::http {
namespace {

constexpr size_t kAnswerHeadersMax = 32;
// 1xx answers are skipped but counted: a proxy sending endless 100 Continue is cut off.
constexpr int kInterimAnswersMax = 4;

// Milliseconds left of `timeout_ms` since `start`; 0 when none are.
uint32_t remaining_ms(std::chrono::steady_clock::time_point start, uint32_t timeout_ms) {
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  if (elapsed.count() >= static_cast<int64_t>(timeout_ms))
    return 0;
  return timeout_ms - static_cast<uint32_t>(elapsed.count());
}

std::string_view refusal_meaning(uint16_t status) {
  switch (status) {
  case 407:
    return "the upstream proxy refused the credentials";
  case 403:
    return "the upstream proxy does not allow this destination";
  case 502:
  case 503:
  case 504:
    return "the upstream proxy could not reach the destination";
  default:
    return "the upstream proxy refused the tunnel";
  }
}

} // namespace

size_t format_connect_request(const ProxyConfig &proxy, std::string_view host, uint16_t port,
                              std::span<char> buffer) {
  // authority-form, RFC 9112 section 3.2.3: host:port, the port always written.
  std::array<char, 300> target_bytes;
  if (host.size() + 7 > target_bytes.size())
    return 0;
  const auto written =
      fmt::format_to_n(target_bytes.data(), target_bytes.size(), "{}:{}", host, port);
  const std::string_view target(target_bytes.data(), written.size);
  HeadWriter writer(buffer);
  writer.request_line("CONNECT", target);
  // RFC 9110 section 7.2: a client sends Host in every HTTP/1.1 request, CONNECT included.
  writer.header("Host", target);
  if (!proxy.authorization.empty())
    writer.header("Proxy-Authorization", proxy.authorization);
  writer.header("User-Agent", "regcache/0.1");
  writer.end();
  if (writer.overflowed() || writer.field_rejected())
    return 0;
  return writer.size();
}

ConnectAnswer parse_connect_answer(std::span<const char> input) {
  ConnectAnswer answer;
  std::array<Header, kAnswerHeadersMax> header_storage;
  ParseLimits limits;
  limits.header_bytes_max = kConnectAnswerBytesMax;
  limits.header_count_max = kAnswerHeadersMax;
  size_t offset = 0;
  for (int interim = 0; interim <= kInterimAnswersMax; ++interim) {
    ResponseHead head;
    // A 2xx to CONNECT has no body whatever its fields say (RFC 9110 section 9.3.6), like the
    // answer to a HEAD: parsing it so keeps its framing fields from mattering.
    const ParseResult parsed =
        parse_response(input.subspan(offset), header_storage, limits, true, head);
    if (parsed.incomplete()) {
      if (input.size() >= kConnectAnswerBytesMax) {
        answer.kind = ConnectAnswer::Kind::Invalid;
        answer.reason = "answer head too long";
      }
      return answer;
    }
    if (parsed.error()) {
      answer.kind = ConnectAnswer::Kind::Invalid;
      answer.reason = parsed.error_reason;
      return answer;
    }
    offset += parsed.consumed;
    if (head.status >= 100 && head.status < 200)
      continue;
    answer.status = head.status;
    answer.consumed = offset;
    answer.kind = head.status >= 200 && head.status < 300 ? ConnectAnswer::Kind::Tunnel
                                                          : ConnectAnswer::Kind::Refused;
    return answer;
  }
  answer.kind = ConnectAnswer::Kind::Invalid;
  answer.reason = "too many interim answers";
  return answer;
}

std::string describe_proxy_refusal(const ProxyConfig &proxy, std::string_view target,
                                   uint16_t status) {
  return fmt::format("upstream proxy {} answered CONNECT {} with {}: {}", proxy.display, target,
                     status, refusal_meaning(status));
}

core::Task<int> open_through_proxy(const ProxyConfig &proxy, std::string_view host, uint16_t port,
                                   uint32_t timeout_ms, int *fd, std::string *error) {
  assert(proxy.enabled());
  *fd = -1;
  const auto start = std::chrono::steady_clock::now();
  const std::string target = fmt::format("{}:{}", host, port);
  core::SocketAddress address;
  int rc = co_await core::resolve(proxy.host, proxy.port, address);
  if (rc != 0) {
    *error = fmt::format("cannot resolve the upstream proxy {}{}", proxy.display,
                         rc == -EAGAIN ? ": too many lookups waiting" : "");
    co_return rc == -EAGAIN ? -EAGAIN : -EHOSTUNREACH;
  }
  const int socket_fd = co_await core::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (socket_fd < 0) {
    *error = fmt::format("socket: {}", strerror(-socket_fd));
    co_return socket_fd;
  }
  // Closes the socket on every failure below; released on success.
  struct Owned {
    int fd;
    ~Owned() {
      if (fd >= 0)
        ::close(fd);
    }
  } owned{socket_fd};
  int one = 1;
  setsockopt(socket_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  rc = co_await core::connect(socket_fd, address.get(), address.length,
                              std::max<uint32_t>(1, remaining_ms(start, timeout_ms)));
  if (rc < 0) {
    *error = fmt::format("connect to the upstream proxy {}: {}", proxy.display,
                         rc == -ETIME ? "timed out" : strerror(-rc));
    co_return rc;
  }
  std::array<char, kConnectAnswerBytesMax> bytes;
  const size_t request_bytes = format_connect_request(proxy, host, port, bytes);
  if (request_bytes == 0) {
    *error = fmt::format("CONNECT {}: the request head does not fit or has a forbidden character",
                         target);
    co_return -E2BIG;
  }
  uint32_t left_ms = remaining_ms(start, timeout_ms);
  rc = -ETIME;
  if (left_ms > 0) {
    rc = co_await core::send_all(socket_fd, std::span<const char>(bytes.data(), request_bytes),
                                 left_ms);
  }
  if (rc < 0) {
    *error = fmt::format("send CONNECT to the upstream proxy {}: {}", proxy.display,
                         rc == -ETIME ? "timed out" : strerror(-rc));
    co_return rc;
  }
  // The answer overwrites the request in `bytes`. Bounded: every turn adds bytes or ends, and
  // a full buffer is an Invalid answer (parse_connect_answer's size bound).
  size_t received = 0;
  while (received < bytes.size()) {
    left_ms = remaining_ms(start, timeout_ms);
    if (left_ms == 0) {
      rc = -ETIME;
    } else {
      rc = co_await core::recv(
          socket_fd, std::span<char>(bytes.data() + received, bytes.size() - received), left_ms);
    }
    if (rc <= 0) {
      *error =
          fmt::format("upstream proxy {} gave no answer to CONNECT {}: {}", proxy.display, target,
                      rc == 0        ? "it closed the connection"
                      : rc == -ETIME ? "timed out"
                                     : strerror(-rc));
      co_return rc == 0 ? -ECONNRESET : rc;
    }
    received += static_cast<size_t>(rc);
    const ConnectAnswer answer =
        parse_connect_answer(std::span<const char>(bytes.data(), received));
    switch (answer.kind) {
    case ConnectAnswer::Kind::Incomplete:
      continue;
    case ConnectAnswer::Kind::Invalid:
      *error = fmt::format("upstream proxy {} answered CONNECT {} with no valid HTTP: {}",
                           proxy.display, target, answer.reason);
      co_return -EPROTO;
    case ConnectAnswer::Kind::Refused:
      *error = describe_proxy_refusal(proxy, target, answer.status);
      co_return kProxyRefused;
    case ConnectAnswer::Kind::Tunnel:
      // Neither a TLS server nor an HTTP server speaks before the client: bytes after the
      // answer came from the proxy, and would corrupt the stream the caller starts.
      if (answer.consumed != received) {
        *error = fmt::format("upstream proxy {} sent bytes after its answer to CONNECT {}",
                             proxy.display, target);
        co_return -EPROTO;
      }
      *fd = std::exchange(owned.fd, -1);
      co_return 0;
    }
  }
  *error = fmt::format("upstream proxy {} answered CONNECT {} with a head over {} bytes",
                       proxy.display, target, bytes.size());
  co_return -EPROTO;
}

} // namespace regcache::http

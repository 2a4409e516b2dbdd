#include "registry/serve/plain_forward.h"

#include <sys/socket.h>

#include <array>
#include <string>

#include "core/byte_stream.h"
#include "core/io_ops.h"
#include "registry/serve/client_connection.h"

namespace regcache::registry {
namespace {

// RFC 9110 section 7.6.1: fields meant for this hop only, not forwarded; Proxy-Connection is
// the pre-standard spelling clients still send. Proxy-Authorization was for regcache (section
// 11.7.2). The fields the request's Connection names are dropped as well.
bool is_hop_by_hop(const http::RequestHead &head, std::string_view name) {
  static constexpr std::string_view kFields[] = {
      "Connection", "Proxy-Connection",  "Keep-Alive",         "TE",
      "Upgrade",    "Transfer-Encoding", "Proxy-Authorization"};
  for (std::string_view field : kFields) {
    if (http::iequals(name, field))
      return true;
  }
  for (const http::Header &header : head.headers) {
    if (http::iequals(header.name, "Connection") &&
        http::header_value_has_token(header.value, name))
      return true;
  }
  return false;
}

// The request as the destination gets it: origin-form (RFC 9112 section 3.2.1), this hop's
// fields gone, and the connection ending after the answer, which then ends where it closes.
// Built as a string: a forwarded request is no hit path.
std::string forwarded_head(const http::RequestHead &head, std::string_view authority) {
  std::string_view rest = head.target.substr(head.target.find("://") + 3 + authority.size());
  std::string out;
  out.reserve(512);
  out.append(head.method).append(" ");
  out.append(rest.empty() || rest.front() != '/' ? "/" : "").append(rest);
  out.append(" HTTP/1.1\r\n");
  bool has_host = false;
  for (const http::Header &header : head.headers) {
    if (is_hop_by_hop(head, header.name))
      continue;
    has_host = has_host || http::iequals(header.name, "Host");
    out.append(header.name).append(": ").append(header.value).append("\r\n");
  }
  if (!has_host)
    out.append("Host: ").append(authority).append("\r\n");
  out.append("Connection: close\r\n\r\n");
  return out;
}

// "HTTP/1.1 200 ..." at the start of `bytes`: the status, or 0.
uint16_t status_of(std::string_view bytes) {
  if (bytes.size() < 12 || !bytes.starts_with("HTTP/1.") || bytes[8] != ' ')
    return 0;
  uint16_t status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (bytes[i] < '0' || bytes[i] > '9')
      return 0;
    status = static_cast<uint16_t>(status * 10 + (bytes[i] - '0'));
  }
  return status;
}

} // namespace

core::Task<void> forward_plain_request(ClientConnection &client, const http::RequestHead &head,
                                       TunnelTarget target) {
  WorkerContext &worker = client.worker();
  const Config &config = client.generation().config;
  if (target.port != 80 && !tunnel_port_allowed(config, target.port)) {
    co_await refuse_tunnel(client, 403, TunnelResult::RefusedPort,
                           "regcache: forwarding to this port is refused (allowed: 80, 443, the "
                           "upstreams' ports, --tunnel-ports)");
    co_return;
  }
  if (worker.tunnels_open >= config.tunnels_max) {
    static constexpr http::Header kRetry{"Retry-After", "1"};
    co_await refuse_tunnel(client, 503, TunnelResult::Busy,
                           "regcache: too many tunnels open (--tunnels-max)",
                           std::span<const http::Header>(&kRetry, 1));
    co_return;
  }
  worker.tunnels_open++; // a forwarded request holds a destination connection like a tunnel
  const std::string authority(head.host);
  int fd = co_await open_tunnel_destination(client, target, std::string(target.host));
  if (fd < 0) {
    worker.tunnels_open--;
    co_return;
  }
  const std::string request = forwarded_head(head, authority);
  int rc = co_await core::send_all(fd, request, config.tunnel_idle_timeout_ms);
  // The status line, peeked (it stays in the socket and is relayed with the rest): for the log,
  // and so that a destination that never answers gets a 504 rather than a silent close.
  std::array<char, 16> first_bytes{};
  int32_t peeked = -EPIPE;
  if (rc >= 0)
    peeked = co_await core::recv(fd, first_bytes, config.tunnel_idle_timeout_ms, MSG_PEEK);
  const uint16_t status =
      peeked > 0 ? status_of(std::string_view(first_bytes.data(), static_cast<size_t>(peeked))) : 0;
  if (status == 0) {
    co_await core::close(fd);
    worker.tunnels_open--;
    co_await refuse_tunnel(client, peeked == -ETIME ? 504 : 502,
                           peeked == -ETIME ? TunnelResult::Timeout : TunnelResult::Unreachable,
                           "regcache: the destination sent no HTTP answer");
    co_return;
  }
  if (worker.counters != nullptr)
    worker.counters->tunnels.count(TunnelResult::Ok);
  client.begin_forward(head.method, head.target, fd, status);
  client.release_buffers_for_tunnel();
  const uint64_t relayed = co_await relay_to_client(client, fd);
  client.end_tunnel(request.size(), relayed);
  if (worker.counters != nullptr)
    worker.counters->tunnels.carried(request.size(), relayed);
  co_await core::close(fd);
  worker.tunnels_open--;
}

} // namespace regcache::registry

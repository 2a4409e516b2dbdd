#include "registry/serve/connect_tunnel.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <string>

#include "core/bounded_format.h"
#include "core/byte_stream.h"
#include "core/io_ops.h"
#include "core/resolver.h"
#include "core/socket_address.h"
#include "core/wait_list.h"
#include "registry/serve/client_connection.h"

namespace regcache::registry {
namespace {

using Clock = std::chrono::steady_clock;

// Bounds every loop of a direction: a turn moves at least one byte or waits with a timeout, so
// this many turns is far past any tunnel's --tunnel-max-ms.
constexpr uint64_t kTurnsMax = uint64_t{1} << 40;

} // namespace

core::Task<void> refuse_tunnel(ClientConnection &client, uint16_t status, TunnelResult result,
                               std::string_view message, std::span<const http::Header> extra) {
  if (TunnelCounters *counters =
          client.worker().counters ? &client.worker().counters->tunnels : nullptr)
    counters->count(result);
  client.set_outcome(CacheOutcome::Error);
  client.drain_then_close();
  std::array<char, 512> text;
  co_await client.send_simple(status, "text/plain",
                              core::format_line_bounded(text, "{}\n", message), extra);
}

namespace {

// What both directions of one tunnel share; lives in run_tunnel's frame.
struct Tunnel {
  int client_fd = -1;
  int destination_fd = -1;
  uint32_t idle_timeout_ms = 0;
  Clock::time_point last_byte_at{};
  Clock::time_point ends_at{}; // --tunnel-max-ms after the 200
  bool cut = false;            // both sockets shut down: every direction ends
  bool timed_out = false;
};

// Time the next wait of a direction may take: to the idle deadline or the total one, whichever
// comes first; 0 when one has passed.
uint32_t wait_left_ms(const Tunnel &tunnel) {
  const Clock::time_point idle_at =
      tunnel.last_byte_at + std::chrono::milliseconds(tunnel.idle_timeout_ms);
  const Clock::time_point deadline = std::min(idle_at, tunnel.ends_at);
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<uint32_t>(std::min<int64_t>(left, UINT32_MAX));
}

// Ends the whole tunnel: both sockets shut down both ways, which wakes the other direction's
// poll or splice. Plain syscalls that never block.
void cut_tunnel(Tunnel &tunnel) {
  if (tunnel.cut)
    return;
  tunnel.cut = true;
  ::shutdown(tunnel.client_fd, SHUT_RDWR);
  ::shutdown(tunnel.destination_fd, SHUT_RDWR);
}

// One direction: `from` -> pipe -> `to`, until `from` ends (then `to` is half-closed: the other
// direction may still carry bytes), an error, or the tunnel is cut. The pipe is left empty
// unless the splice out failed (`*pipe_dirty`).
core::Task<void> carry(Tunnel &tunnel, int from, int to, const core::Pipe &pipe, uint64_t *bytes,
                       bool *pipe_dirty) {
  for (uint64_t turn = 0; turn < kTurnsMax && !tunnel.cut; ++turn) {
    const uint32_t wait_ms = wait_left_ms(tunnel);
    if (wait_ms == 0) {
      tunnel.timed_out = true;
      cut_tunnel(tunnel);
      break;
    }
    // POLLIN first: a splice from a socket with nothing to read would hold an io-wq thread.
    int32_t ready = co_await core::poll(from, POLLIN | POLLRDHUP, wait_ms);
    if (ready == -ETIME)
      continue; // the other direction may have moved bytes meanwhile: wait_left_ms decides
    if (ready < 0 || tunnel.cut) {
      cut_tunnel(tunnel);
      break;
    }
    int32_t got = co_await core::splice(from, -1, pipe.write_fd, -1, pipe.capacity_bytes);
    if (got == -EAGAIN)
      continue; // woken without bytes (a non-blocking socket)
    if (got == 0) {
      // RFC 9110 section 9.3.6: a close on one side is passed on as a half close, so the
      // other side still gets its answer through.
      ::shutdown(to, SHUT_WR);
      break;
    }
    if (got < 0) {
      cut_tunnel(tunnel);
      break;
    }
    tunnel.last_byte_at = Clock::now();
    uint32_t left = static_cast<uint32_t>(got);
    // Bounded: each turn moves bytes or waits (with the tunnel's timeout) for room.
    for (uint64_t drain_turn = 0; left > 0 && drain_turn < kTurnsMax; ++drain_turn) {
      int32_t sent = co_await core::splice(pipe.read_fd, -1, to, -1, left, wait_left_ms(tunnel));
      if (sent == -EAGAIN) {
        int32_t room =
            co_await core::poll(to, POLLOUT, std::max<uint32_t>(wait_left_ms(tunnel), 1));
        if (room > 0 && !tunnel.cut)
          continue;
        sent = room == 0 ? -ETIME : room;
      }
      if (sent <= 0) {
        // A side that takes no byte for the idle timeout is gone, whatever the other does.
        tunnel.timed_out = tunnel.timed_out || sent == -ETIME;
        *pipe_dirty = true;
        cut_tunnel(tunnel);
        co_return;
      }
      left -= static_cast<uint32_t>(sent);
      *bytes += static_cast<uint64_t>(sent);
      tunnel.last_byte_at = Clock::now();
    }
  }
}

// The up direction runs in a coroutine of its own; run_tunnel waits for it here.
struct Joined {
  bool done = false;
  bool waiting = false;
  core::Waiter waiter;
};

core::Task<void> carry_then_signal(Tunnel &tunnel, const core::Pipe &pipe, uint64_t *bytes,
                                   bool *pipe_dirty, Joined &joined) {
  co_await carry(tunnel, tunnel.client_fd, tunnel.destination_fd, pipe, bytes, pipe_dirty);
  joined.done = true;
  if (joined.waiting)
    core::wake_all(&joined.waiter);
}

// The tunnel after the 200: the bytes the client sent behind its CONNECT head first, then both
// directions until both have ended.
core::Task<void> carry_both_ways(ClientConnection &client, Tunnel &tunnel,
                                 const std::array<core::Pipe, 2> &pipes, uint64_t *bytes_up,
                                 uint64_t *bytes_down, std::array<bool, 2> &dirty) {
  const Config &config = client.generation().config;
  std::span<const char> early = client.received_after_request();
  if (!early.empty()) {
    int rc = co_await core::send_all(tunnel.destination_fd, early, config.tunnel_idle_timeout_ms);
    if (rc < 0) {
      cut_tunnel(tunnel);
      co_return;
    }
    *bytes_up += early.size();
  }
  client.release_buffers_for_tunnel(); // splicing needs no buffer: 28 KiB back per tunnel
  tunnel.last_byte_at = Clock::now();
  Joined up;
  core::spawn(carry_then_signal(tunnel, pipes[0], bytes_up, &dirty[0], up));
  co_await carry(tunnel, tunnel.destination_fd, tunnel.client_fd, pipes[1], bytes_down, &dirty[1]);
  if (!up.done) {
    up.waiter.arm();
    up.waiting = true;
    co_await up.waiter;
  }
}

} // namespace

core::Task<int> open_tunnel_destination(ClientConnection &client, const TunnelTarget &target,
                                        std::string host) {
  core::SocketAddress address;
  int rc = co_await core::resolve(std::move(host), target.port, address);
  if (rc == -EAGAIN) {
    static constexpr http::Header kRetry{"Retry-After", "1"};
    co_await refuse_tunnel(client, 503, TunnelResult::Busy,
                           "regcache: too many names being resolved",
                           std::span<const http::Header>(&kRetry, 1));
    co_return -1;
  }
  if (rc < 0) {
    co_await refuse_tunnel(client, 502, TunnelResult::Unreachable,
                           "regcache: the tunnel's host name does not resolve");
    co_return -1;
  }
  // Checked on the address connected to, after resolution: a name that resolves to loopback
  // (DNS rebinding, "localhost") is refused like the literal.
  if (!core::is_tunnel_destination_allowed(address)) {
    co_await refuse_tunnel(client, 403, TunnelResult::RefusedAddress,
                           "regcache: tunnels to loopback, link-local, multicast or broadcast "
                           "addresses are refused");
    co_return -1;
  }
  int fd = co_await core::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    co_await refuse_tunnel(client, 502, TunnelResult::Unreachable,
                           "regcache: no socket for the tunnel");
    co_return -1;
  }
  // `address` lives in this frame until the connect completes.
  rc = co_await core::connect(fd, address.get(), address.length,
                              client.generation().config.tunnel_connect_timeout_ms);
  if (rc < 0) {
    co_await core::close(fd);
    if (rc == -ETIME) {
      co_await refuse_tunnel(client, 504, TunnelResult::Timeout,
                             "regcache: the tunnel's destination did not answer in time "
                             "(--tunnel-connect-timeout-ms)");
    } else {
      std::array<char, 160> text;
      co_await refuse_tunnel(client, 502, TunnelResult::Unreachable,
                             core::format_line_bounded(text,
                                                       "regcache: cannot connect to the tunnel's "
                                                       "destination: {}",
                                                       std::strerror(-rc)));
    }
    co_return -1;
  }
  co_return fd;
}

core::Task<uint64_t> relay_to_client(ClientConnection &client, int from_fd) {
  core::PipePool &pool = client.worker().pipes;
  core::Pipe pipe;
  if (!pool.acquire(pipe))
    co_return 0;
  Tunnel tunnel;
  tunnel.client_fd = client.fd();
  tunnel.destination_fd = from_fd;
  tunnel.idle_timeout_ms = client.generation().config.tunnel_idle_timeout_ms;
  tunnel.ends_at =
      Clock::now() + std::chrono::milliseconds(client.generation().config.tunnel_max_ms);
  tunnel.last_byte_at = Clock::now();
  uint64_t bytes = 0;
  bool dirty = false;
  co_await carry(tunnel, from_fd, client.fd(), pipe, &bytes, &dirty);
  if (dirty) {
    pool.discard(pipe);
  } else {
    pool.release(pipe);
  }
  co_return bytes;
}

std::optional<TunnelTarget> parse_tunnel_target(std::string_view authority) {
  const std::optional<core::HostPortText> parts = core::split_host_port(authority);
  if (!parts || parts->host.empty())
    return std::nullopt;
  const std::optional<uint16_t> port = core::parse_port_number(parts->port);
  if (!port)
    return std::nullopt;
  return TunnelTarget{parts->host, *port};
}

bool tunnel_port_allowed(const Config &config, uint16_t port) {
  if (config.tunnel_ports.given)
    return config.tunnel_ports.contains(port);
  // squid's SSL_ports: HTTPS, and the registries regcache is configured for wherever they are.
  if (port == kHttpsDefaultPort)
    return true;
  return std::any_of(config.upstreams.begin(), config.upstreams.end(),
                     [port](const UpstreamConfig &upstream) { return upstream.url.port == port; });
}

core::Task<void> run_tunnel(ClientConnection &client, const http::RequestHead &head,
                            TunnelTarget target) {
  WorkerContext &worker = client.worker();
  const Config &config = client.generation().config;
  if (!tunnel_port_allowed(config, target.port)) {
    std::array<char, 200> text;
    co_await refuse_tunnel(
        client, 403, TunnelResult::RefusedPort,
        core::format_line_bounded(text,
                                  "regcache: tunnels to port {} are refused (allowed: "
                                  "443, the upstreams' ports, --tunnel-ports)",
                                  target.port));
    co_return;
  }
  static constexpr http::Header kRetry{"Retry-After", "1"};
  if (worker.tunnels_open >= config.tunnels_max) {
    co_await refuse_tunnel(client, 503, TunnelResult::Busy,
                           "regcache: too many tunnels open (--tunnels-max)",
                           std::span<const http::Header>(&kRetry, 1));
    co_return;
  }
  // The slot is taken before resolving and connecting: those count against the bound too.
  worker.tunnels_open++;
  int destination_fd = co_await open_tunnel_destination(client, target, std::string(target.host));
  std::array<core::Pipe, 2> pipes;
  bool have_pipes = false;
  if (destination_fd >= 0) {
    have_pipes = worker.pipes.acquire(pipes[0]);
    if (have_pipes && !worker.pipes.acquire(pipes[1])) {
      worker.pipes.release(pipes[0]);
      have_pipes = false;
    }
    if (!have_pipes) {
      co_await core::close(destination_fd);
      destination_fd = -1;
      co_await refuse_tunnel(client, 503, TunnelResult::Busy, "regcache: no splice pipes left",
                             std::span<const http::Header>(&kRetry, 1));
    }
  }
  if (destination_fd < 0) {
    worker.tunnels_open--;
    co_return;
  }
  TunnelCounters *counters = worker.counters ? &worker.counters->tunnels : nullptr;
  if (counters != nullptr) {
    counters->count(TunnelResult::Ok);
    counters->opened();
  }
  Tunnel tunnel;
  tunnel.client_fd = client.fd();
  tunnel.destination_fd = destination_fd;
  tunnel.idle_timeout_ms = config.tunnel_idle_timeout_ms;
  tunnel.ends_at = Clock::now() + std::chrono::milliseconds(config.tunnel_max_ms);
  tunnel.last_byte_at = Clock::now();
  uint64_t bytes_up = 0;
  uint64_t bytes_down = 0;
  std::array<bool, 2> dirty{false, false};
  int rc = co_await client.send_tunnel_established(head.target, destination_fd);
  if (rc >= 0)
    co_await carry_both_ways(client, tunnel, pipes, &bytes_up, &bytes_down, dirty);
  client.end_tunnel(bytes_up, bytes_down);
  for (size_t i = 0; i < pipes.size(); ++i) {
    // A pipe that may still hold bytes of this tunnel cannot serve another.
    if (dirty[i]) {
      worker.pipes.discard(pipes[i]);
    } else {
      worker.pipes.release(pipes[i]);
    }
  }
  co_await core::close(destination_fd);
  worker.tunnels_open--;
  if (counters != nullptr) {
    counters->carried(bytes_up, bytes_down);
    counters->closed();
  }
}

} // namespace regcache::registry

#pragma once
// Keep-alive connections to upstreams, one pool per worker (connections never cross workers).
// A connection is taken out of the pool for one exchange and given back only when its response
// was read to the end and both sides allow keep-alive. Everything is bounded, since clients
// choose endpoints (?ns=): connections in use (past the bound, acquire fails with -EBUSY at
// once), idle connections per endpoint and in all, endpoints with idle connections (the least
// recently used endpoint's go first), and an idle connection's age (checked whenever the pool
// is used). An idle connection keeps its 1 MiB buffer, touched as far as responses filled it.
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/byte_stream.h"
#include "core/lru_map.h"
#include "core/task.h"
#include "http/proxy_connect.h"
#include "http/upstream_endpoint.h"
#include "tls/tls_context.h"

namespace regcache::http {

class ExchangeObserver;

struct UpstreamSettings {
  uint32_t connect_timeout_ms = 5000;
  uint32_t read_timeout_ms = 60000; // longest silence in a response; also a send's timeout
  // The rate floor of a response (http/read_budget.h): fewer bytes than this per second of
  // waiting, over a window of that much waiting, and the response is cut. 0: no floor.
  uint32_t min_bytes_per_s = 0;
  uint32_t rate_window_ms = 60000;
  uint32_t idle_connections_max = 64;    // per endpoint per worker
  uint32_t idle_endpoints_max = 64;      // endpoints with idle connections, per worker
  uint32_t idle_total_max = 256;         // idle connections of all endpoints, per worker
  uint32_t idle_timeout_ms = 30000;      // an idle connection older than this is closed
  uint32_t active_connections_max = 256; // in use or opening, per worker
  const tls::ClientContext *tls_context = nullptr;
  // --upstream-proxy and NO_PROXY; null: every upstream is reached directly. Shared, so a
  // connect in progress keeps the one it began with across a reload.
  std::shared_ptr<const ProxyConfig> proxy;
};

class UpstreamConnection {
public:
  // Response heads, chunked bodies and small bodies are received here (a download's
  // Content-Length body goes straight into its write stage, UpstreamExchange::read_body_into);
  // the pages are touched only as far as a response fills them.
  static constexpr size_t kBufferBytes = 1024 * 1024;

  // fd -1 and a null stream make a connection that does no I/O (the pool's unit tests).
  UpstreamConnection(int fd, std::unique_ptr<core::ByteStream> stream, std::string pool_key)
      : fd_(fd), stream_(std::move(stream)), pool_key_(std::move(pool_key)) {}
  ~UpstreamConnection();
  UpstreamConnection(const UpstreamConnection &) = delete;
  UpstreamConnection &operator=(const UpstreamConnection &) = delete;

  core::ByteStream &stream() { return *stream_; }
  const std::string &pool_key() const { return pool_key_; }
  bool reused() const { return exchanges_ > 0; }
  void count_exchange() { exchanges_++; }

  // Received bytes not consumed yet live in buffer[begin, end).
  std::array<char, kBufferBytes> buffer;
  size_t begin = 0;
  size_t end = 0;

private:
  friend class UpstreamPool;
  int fd_;
  std::unique_ptr<core::ByteStream> stream_;
  std::string pool_key_;
  uint64_t exchanges_ = 0;
  // While the connection is out of the pool: its pool's count of connections in use, which it
  // leaves when it is given back or closed. A connection never outlives its worker's pool.
  uint32_t *in_use_count_ = nullptr;
  uint64_t settings_epoch_ = 0; // the pool's when this connection was opened
};

class UpstreamPool {
public:
  using Clock = std::chrono::steady_clock;

  explicit UpstreamPool(UpstreamSettings settings)
      : settings_(settings), idle_(settings.idle_endpoints_max) {}
  UpstreamPool(const UpstreamPool &) = delete;
  UpstreamPool &operator=(const UpstreamPool &) = delete;
  const UpstreamSettings &settings() const { return settings_; }
  // Told the outcome of every exchange through this pool that asks for it
  // (UpstreamRequest::observed_as); null: none. Not owned; it outlives the pool's exchanges.
  void set_observer(ExchangeObserver *observer) { observer_ = observer; }
  ExchangeObserver *observer() const { return observer_; }
  // Counts the CONNECTs through the upstream proxy; null: not counted. Not owned.
  void set_proxy_counters(ProxyConnectCounters *counters) { proxy_counters_ = counters; }

  // An idle pooled connection to the endpoint, or a new one (resolve, connect, TLS handshake;
  // through settings().proxy unless its NO_PROXY matches the host: connect to the proxy and
  // CONNECT, then the handshake with the upstream inside the tunnel).
  // On failure returns null, sets `error` to a message fit for a log line and `*failure` to
  // -EPERM when the endpoint may not be reached (public_only and not a public address), -EBUSY
  // when regcache is at a bound (active_connections_max, the resolver's queue), else
  // -ECONNREFUSED.
  core::Task<std::unique_ptr<UpstreamConnection>>
  acquire(const Endpoint &endpoint, bool allow_reuse, std::string *error, int *failure);
  void release(std::unique_ptr<UpstreamConnection> connection,
               Clock::time_point now = Clock::now());
  // A configuration reload: the new timeouts, rate floor, idle lifetime and default TLS
  // context apply to what is acquired from now on. The sizes stay as they were: they are part
  // of the fd budget planned at start, and idle_endpoints_max sized the idle map. Every
  // connection opened before, idle now or released later, is closed rather than reused: it was
  // verified under the old TLS settings, perhaps for an upstream that has changed.
  void retune(const UpstreamSettings &settings) {
    UpstreamSettings kept = settings_;
    settings_ = settings;
    settings_.idle_connections_max = kept.idle_connections_max;
    settings_.idle_endpoints_max = kept.idle_endpoints_max;
    settings_.idle_total_max = kept.idle_total_max;
    settings_.active_connections_max = kept.active_connections_max;
    settings_epoch_++;
    clear();
  }
  // Closes every idle connection (shutdown).
  void clear() {
    idle_.clear();
    idle_total_ = 0;
  }

  // The parts of acquire() that do no I/O, public for the unit tests. take_idle: the most
  // recently released idle connection to `pool_key` that is not too old, counted in use; null
  // when there is none.
  std::unique_ptr<UpstreamConnection> take_idle(const std::string &pool_key,
                                                Clock::time_point now = Clock::now());
  // Closes the idle connections older than idle_timeout_ms; cheap when none can be.
  void close_expired(Clock::time_point now);
  // Counts a connection made elsewhere as in use, as acquire does with its own.
  void count_in_use(UpstreamConnection &connection);
  uint32_t in_use() const { return in_use_; }
  size_t idle_endpoints() const { return idle_.size(); }
  size_t idle_connections(const std::string &pool_key);
  size_t idle_total() const { return idle_total_; }

private:
  struct Idle {
    std::unique_ptr<UpstreamConnection> connection;
    Clock::time_point since;
  };
  // Oldest first: release appends, take_idle takes from the back (the warmest connection).
  using IdleList = std::vector<Idle>;
  bool expired(const Idle &idle, Clock::time_point now) const;
  // Closes the oldest idle connection of the least recently used endpoint.
  void close_least_recent();
  // A connected socket to the endpoint, directly or through the upstream proxy (a tunnel);
  // -1 with `error` and `*failure` set as acquire() says.
  core::Task<int> open_socket(const Endpoint &endpoint, std::string *error, int *failure);

  UpstreamSettings settings_;
  ExchangeObserver *observer_ = nullptr;
  ProxyConnectCounters *proxy_counters_ = nullptr;
  uint64_t settings_epoch_ = 0; // retune() calls so far; connections carry the one they began in
  uint32_t in_use_ = 0;         // connections out of the pool, and connects in progress
  core::LruMap<IdleList> idle_; // by pool key; no key holds an empty list
  size_t idle_total_ = 0;       // connections in idle_'s lists
  Clock::time_point next_expiry_{Clock::time_point::max()}; // of the oldest idle connection
};

} // namespace regcache::http

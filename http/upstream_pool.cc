#include "http/upstream_pool.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstring>

#include "core/io_ops.h"
#include "core/resolver.h"
#include "core/socket_address.h"
#include "http/proxy_connect.h"
#include "tls/tls_stream.h"

namespace regcache::http {

UpstreamConnection::~UpstreamConnection() {
  if (in_use_count_ != nullptr) {
    assert(*in_use_count_ > 0);
    --*in_use_count_;
  }
  stream_.reset();
  if (fd_ >= 0)
    ::close(fd_); // a socket close without SO_LINGER does not block
}

bool UpstreamPool::expired(const Idle &idle, Clock::time_point now) const {
  return now - idle.since >= std::chrono::milliseconds(settings_.idle_timeout_ms);
}

void UpstreamPool::count_in_use(UpstreamConnection &connection) {
  assert(connection.in_use_count_ == nullptr);
  connection.in_use_count_ = &in_use_;
  connection.settings_epoch_ = settings_epoch_;
  in_use_++;
}

void UpstreamPool::close_expired(Clock::time_point now) {
  if (now < next_expiry_)
    return;
  // Bounded by idle_endpoints_max x idle_connections_max, and run at most once per expiry.
  next_expiry_ = Clock::time_point::max();
  idle_.erase_if([&](IdleList &list) {
    size_t fresh = 0;
    while (fresh < list.size() && expired(list[fresh], now))
      fresh++;
    list.erase(list.begin(), list.begin() + static_cast<ptrdiff_t>(fresh)); // closes them
    idle_total_ -= fresh;
    if (!list.empty()) {
      next_expiry_ = std::min(
          next_expiry_, list.front().since + std::chrono::milliseconds(settings_.idle_timeout_ms));
    }
    return list.empty();
  });
}

std::unique_ptr<UpstreamConnection> UpstreamPool::take_idle(const std::string &pool_key,
                                                            Clock::time_point now) {
  close_expired(now);
  IdleList *list = idle_.find(pool_key);
  if (list == nullptr)
    return nullptr;
  assert(!list->empty());
  std::unique_ptr<UpstreamConnection> connection = std::move(list->back().connection);
  list->pop_back();
  idle_total_--;
  if (list->empty())
    idle_.erase(pool_key);
  count_in_use(*connection);
  return connection;
}

void UpstreamPool::close_least_recent() {
  std::string_view key;
  IdleList *list = idle_.least_recently_used(&key);
  assert(list != nullptr && !list->empty());
  list->erase(list->begin());
  idle_total_--;
  if (list->empty())
    idle_.erase(key);
}

size_t UpstreamPool::idle_connections(const std::string &pool_key) {
  IdleList *list = idle_.peek(pool_key);
  return list == nullptr ? 0 : list->size();
}

core::Task<int> UpstreamPool::open_socket(const Endpoint &endpoint, std::string *error,
                                          int *failure) {
  // Held for the whole open: a reload (retune) may replace settings_ meanwhile.
  const std::shared_ptr<const ProxyConfig> proxy = settings_.proxy;
  const bool via_proxy = proxy != nullptr && proxy->applies_to(endpoint.host);
  core::SocketAddress address;
  // Through the proxy the name is resolved by the proxy; only a host that must be public is
  // resolved here first, to refuse a private answer as without a proxy.
  if (!via_proxy || endpoint.public_only) {
    int rc = co_await core::resolve(endpoint.host, endpoint.port, address);
    if (rc == -EAGAIN) {
      *error = fmt::format("cannot resolve {}: too many lookups waiting", endpoint.host);
      *failure = -EBUSY;
      co_return -1;
    }
    if (rc != 0) {
      *error = fmt::format("cannot resolve {}", endpoint.host);
      co_return -1;
    }
    if (endpoint.public_only && !core::is_public_address(address)) {
      // Says nothing about the address or whether anything listens there.
      *error = fmt::format("{} is not a public address", endpoint.host);
      *failure = -EPERM;
      co_return -1;
    }
  }
  if (via_proxy) {
    // The CONNECT names the host, not the address checked above: the proxy resolves the name
    // again and may get another answer (README, Security).
    int fd = -1;
    const int rc = co_await open_through_proxy(*proxy, endpoint.host, endpoint.port,
                                               settings_.connect_timeout_ms, &fd, error);
    if (proxy_counters_ != nullptr)
      proxy_counters_->count(rc);
    if (rc == -EAGAIN)
      *failure = -EBUSY;
    co_return rc < 0 ? -1 : fd;
  }
  int fd = co_await core::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = fmt::format("socket: {}", strerror(-fd));
    co_return -1;
  }
  int one = 1;
  // Request heads are small and latency-bound; Nagle would hold them back.
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  const int rc =
      co_await core::connect(fd, address.get(), address.length, settings_.connect_timeout_ms);
  if (rc < 0) {
    *error = fmt::format("connect to {}: {}", endpoint.authority,
                         rc == -ETIME ? "timed out" : strerror(-rc));
    ::close(fd);
    co_return -1;
  }
  co_return fd;
}

core::Task<std::unique_ptr<UpstreamConnection>> UpstreamPool::acquire(const Endpoint &endpoint,
                                                                      bool allow_reuse,
                                                                      std::string *error,
                                                                      int *failure) {
  *failure = -ECONNREFUSED;
  if (in_use_ >= settings_.active_connections_max) {
    // Each connection may hold a 1 MiB buffer and TLS state: past the bound, fail at once and
    // let the client retry, rather than queue without a bound.
    *error = fmt::format("{} upstream connections in use on this worker (--upstream-active-max)",
                         in_use_);
    *failure = -EBUSY;
    co_return nullptr;
  }
  std::string key = endpoint.pool_key();
  if (allow_reuse) {
    if (std::unique_ptr<UpstreamConnection> connection = take_idle(key))
      co_return connection;
  } else {
    close_expired(Clock::now());
  }
  // The slot is taken before the connect, so connects in progress count against the bound too;
  // every failure below gives it back.
  in_use_++;
  struct ConnectSlot {
    uint32_t &in_use;
    bool kept = false;
    ~ConnectSlot() {
      if (!kept)
        in_use--;
    }
  } slot{in_use_};
  const int fd = co_await open_socket(endpoint, error, failure);
  if (fd < 0)
    co_return nullptr;
  std::unique_ptr<core::ByteStream> stream;
  if (endpoint.tls) {
    const tls::ClientContext *context =
        endpoint.tls_context != nullptr ? endpoint.tls_context : settings_.tls_context;
    if (context == nullptr) {
      *error = "no TLS context for an https upstream";
      ::close(fd);
      co_return nullptr;
    }
    auto tls_stream = std::make_unique<tls::TlsStream>(*context, fd, endpoint.host);
    const int rc = co_await tls_stream->handshake(settings_.connect_timeout_ms);
    if (rc < 0) {
      *error =
          fmt::format("TLS handshake with {}: {}", endpoint.authority, tls_stream->error_text());
      tls_stream.reset();
      ::close(fd);
      co_return nullptr;
    }
    stream = std::move(tls_stream);
  } else {
    stream = std::make_unique<core::PlainStream>(fd);
  }
  auto connection = std::make_unique<UpstreamConnection>(fd, std::move(stream), std::move(key));
  connection->in_use_count_ = &in_use_; // takes over the slot
  connection->settings_epoch_ = settings_epoch_;
  slot.kept = true;
  co_return connection;
}

void UpstreamPool::release(std::unique_ptr<UpstreamConnection> connection, Clock::time_point now) {
  assert(connection->in_use_count_ == &in_use_);
  close_expired(now);
  if (settings_.idle_connections_max == 0 || settings_.idle_timeout_ms == 0)
    return; // no pooling: dropping it closes it
  if (connection->settings_epoch_ != settings_epoch_)
    return; // opened before a retune (a reload): closed, as retune() says
  connection->in_use_count_ = nullptr;
  in_use_--;
  connection->begin = 0;
  connection->end = 0;
  // A new endpoint in a full pool closes the least recently used endpoint's connections. Done
  // here rather than by the map's own eviction, so idle_total_ stays exact.
  if (idle_.peek(connection->pool_key()) == nullptr && idle_.size() >= idle_.entries_max()) {
    std::string_view key;
    idle_total_ -= idle_.least_recently_used(&key)->size();
    idle_.erase(key);
  }
  auto never = [](const IdleList &) { return false; }; // empty lists are erased at once
  IdleList &list = idle_.find_or_insert(connection->pool_key(), never, never);
  if (list.size() >= settings_.idle_connections_max) {
    // The oldest goes, so the list stays ordered by age and the pool keeps the warmest.
    list.erase(list.begin());
    idle_total_--;
  }
  list.push_back(Idle{std::move(connection), now});
  idle_total_++;
  next_expiry_ = std::min(next_expiry_, list.front().since +
                                            std::chrono::milliseconds(settings_.idle_timeout_ms));
  // Bounded: over the total by one at most, since each release adds one connection.
  while (idle_total_ > settings_.idle_total_max)
    close_least_recent();
}

} // namespace regcache::http

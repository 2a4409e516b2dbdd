#include "http/upstream_pool.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cstring>

#include "core/io_ops.h"
#include "core/resolver.h"
#include "core/socket_address.h"
#include "tls/tls_stream.h"

namespace regcache::http {

UpstreamConnection::~UpstreamConnection() {
  stream_.reset();
  if (fd_ >= 0)
    ::close(fd_); // a socket close without SO_LINGER does not block
}

core::Task<std::unique_ptr<UpstreamConnection>> UpstreamPool::acquire(const Endpoint &endpoint,
                                                                      bool allow_reuse,
                                                                      std::string *error,
                                                                      int *failure) {
  *failure = -ECONNREFUSED;
  std::string key = endpoint.pool_key();
  if (allow_reuse) {
    auto it = idle_.find(key);
    if (it != idle_.end() && !it->second.empty()) {
      std::unique_ptr<UpstreamConnection> connection = std::move(it->second.back());
      it->second.pop_back();
      co_return connection;
    }
  }
  core::SocketAddress address;
  int rc = co_await core::resolve(endpoint.host, endpoint.port, address);
  if (rc != 0) {
    *error = fmt::format("cannot resolve {}", endpoint.host);
    co_return nullptr;
  }
  if (endpoint.public_only && !core::is_public_address(address)) {
    // Says nothing about the address or whether anything listens there.
    *error = fmt::format("{} is not a public address", endpoint.host);
    *failure = -EPERM;
    co_return nullptr;
  }
  int fd = co_await core::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = fmt::format("socket: {}", strerror(-fd));
    co_return nullptr;
  }
  int one = 1;
  // Request heads are small and latency-bound; Nagle would hold them back.
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  rc = co_await core::connect(fd, address.get(), address.length, settings_.connect_timeout_ms);
  if (rc < 0) {
    *error = fmt::format("connect to {}: {}", endpoint.authority,
                         rc == -ETIME ? "timed out" : strerror(-rc));
    ::close(fd);
    co_return nullptr;
  }
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
    rc = co_await tls_stream->handshake(settings_.connect_timeout_ms);
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
  co_return std::make_unique<UpstreamConnection>(fd, std::move(stream), std::move(key));
}

void UpstreamPool::release(std::unique_ptr<UpstreamConnection> connection) {
  auto &idle = idle_[connection->pool_key()];
  if (idle.size() >= settings_.idle_connections_max)
    return; // dropped: closes it
  connection->begin = 0;
  connection->end = 0;
  idle.push_back(std::move(connection));
}

} // namespace regcache::http

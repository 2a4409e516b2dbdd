#pragma once
// Keep-alive connections to upstreams, one pool per worker (connections never cross workers).
// A connection is taken out of the pool for one exchange and given back only when its response
// was read to the end and both sides allow keep-alive.
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/byte_stream.h"
#include "core/task.h"
#include "http/upstream_endpoint.h"
#include "tls/tls_context.h"

namespace regcache::http {

struct UpstreamSettings {
  uint32_t connect_timeout_ms = 5000;
  uint32_t read_timeout_ms = 60000;
  uint32_t idle_connections_max = 64; // per endpoint per worker
  const tls::ClientContext *tls_context = nullptr;
};

class UpstreamConnection {
public:
  // Large enough that a plain-TCP blob streams in few ring round trips (each recv, hash and
  // file write covers up to 1 MiB; over TLS a receive is one TLS read, at most 16 KiB today);
  // the pages are touched only as far as a response fills them.
  static constexpr size_t kBufferBytes = 1024 * 1024;

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
  int fd_;
  std::unique_ptr<core::ByteStream> stream_;
  std::string pool_key_;
  uint64_t exchanges_ = 0;
};

class UpstreamPool {
public:
  explicit UpstreamPool(UpstreamSettings settings) : settings_(settings) {}
  const UpstreamSettings &settings() const { return settings_; }

  // An idle pooled connection to the endpoint, or a new one (resolve, connect, TLS handshake).
  // On failure returns null, sets `error` to a message fit for a log line and `*failure` to
  // -EPERM when the endpoint may not be reached (public_only and not a public address), else
  // -ECONNREFUSED.
  core::Task<std::unique_ptr<UpstreamConnection>>
  acquire(const Endpoint &endpoint, bool allow_reuse, std::string *error, int *failure);
  void release(std::unique_ptr<UpstreamConnection> connection);
  // Closes every idle connection (shutdown).
  void clear() { idle_.clear(); }

private:
  UpstreamSettings settings_;
  std::unordered_map<std::string, std::vector<std::unique_ptr<UpstreamConnection>>> idle_;
};

} // namespace regcache::http

#pragma once
// Host name resolution. getaddrinfo blocks, so it never runs on a worker: a small fixed pool of
// helper threads takes names from a bounded queue, resolves them and posts each answer back
// through the rings of the workers waiting for it. Lookups are single flight per name: however
// many lookups of one name are waiting, one getaddrinfo runs. A full queue fails a lookup at once
// (-EAGAIN, the caller answers 503) instead of making it wait. Numeric addresses resolve without a
// lookup, and answers are kept in a bounded cache for a while, so steady-state upstream connects
// skip the lookup. Failures are not cached; single flight already collapses a burst of them.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/lru_map.h"
#include "core/socket_address.h"
#include "core/task.h"

namespace regcache::core {

struct ResolverSettings {
  uint32_t threads = 4;    // helper threads, each running one getaddrinfo at a time
  uint32_t queue_max = 64; // distinct names waiting for a helper thread
  // A name that waited longer than this for a thread fails (-EAGAIN) without a lookup: behind
  // lookups that hang until the DNS timeout (5 s per try by default), a queued one would wait
  // queue_max / threads times that. So a lookup waits at most this plus one getaddrinfo.
  uint32_t queue_wait_max_ms = 2000;
  uint32_t cache_entries_max = 1024; // answers remembered (expired first, then least recent)
  uint32_t cache_ttl_s = 60;
};

// A blocking lookup run on a helper thread: 0 with `out` filled (any port), or a negative error.
using BlockingLookup = std::function<int(const std::string &host, SocketAddress &out)>;
// getaddrinfo, preferring an IPv4 answer; -EHOSTUNREACH when the name does not resolve.
int lookup_with_getaddrinfo(const std::string &host, SocketAddress &out);

class Resolver {
public:
  explicit Resolver(ResolverSettings settings = {},
                    BlockingLookup lookup = &lookup_with_getaddrinfo);
  // Stops the helper threads. No lookup may be waiting.
  ~Resolver();
  Resolver(const Resolver &) = delete;
  Resolver &operator=(const Resolver &) = delete;

  // Returns 0 and fills `out` (with `port`), -EAGAIN when the queue is full, or the lookup's
  // error (-EHOSTUNREACH when the name does not resolve). Call on a worker thread (with a ring).
  Task<int> resolve(std::string host, uint16_t port, SocketAddress &out);

  size_t cached_entries() const;
  size_t queued_lookups() const;

private:
  struct Flight;
  struct CachedAnswer {
    SocketAddress address;
    std::chrono::steady_clock::time_point expires{};
  };
  void run_helper();

  const ResolverSettings settings_;
  const BlockingLookup lookup_;
  mutable std::mutex mutex_;
  std::condition_variable work_ready_;
  // The queue: a ring buffer of settings_.queue_max slots, allocated once.
  std::vector<std::shared_ptr<Flight>> queue_;
  size_t queue_head_ = 0;
  size_t queue_size_ = 0;
  // Every name queued or being resolved, keyed by the flight's own copy of the name.
  std::unordered_map<std::string_view, std::shared_ptr<Flight>> in_flight_;
  LruMap<CachedAnswer> cache_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// The process's resolver, with the default settings. Created on first use and never destroyed:
// its helper threads may be inside getaddrinfo when the process exits, and nothing should wait
// for them.
Resolver &process_resolver();

inline Task<int> resolve(std::string host, uint16_t port, SocketAddress &out) {
  return process_resolver().resolve(std::move(host), port, out);
}

} // namespace regcache::core

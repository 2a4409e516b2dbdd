#pragma once
// What a worker has answered since start: requests and body bytes by the kind of request and by
// how the cache answered it. The numbers behind the service status line, and later the metrics.
// One per worker, written only by its thread (relaxed stores of its own sums, so no atomic
// read-modify-write on the hot path); other threads read them relaxed and add the workers up.
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iterator>

#include "registry/serve/cache_outcome.h"
#include "registry/serve/tunnel_counters.h"

namespace regcache::registry {

enum class RequestKind : uint8_t { Manifest, Blob, Token, Ping, Other };
inline constexpr size_t kRequestKinds = 5;
inline constexpr size_t kCacheOutcomes = 9; // CacheOutcome's values

// Request duration buckets, in seconds: a hit takes well under a millisecond, a cold layer
// minutes.
inline constexpr double kDurationBoundsS[] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
inline constexpr size_t kDurationBounds = std::size(kDurationBoundsS);
// The bucket of a duration: the first bound it does not exceed, kDurationBounds above all.
size_t duration_bucket(uint64_t elapsed_us);

class RequestCounters {
public:
  void count(RequestKind kind, CacheOutcome outcome, uint64_t body_bytes, uint64_t elapsed_us) {
    Cell &cell = cells_[static_cast<size_t>(kind)][static_cast<size_t>(outcome)];
    // Only this worker writes: load + store is enough, and cheaper than fetch_add.
    bump(cell.requests, 1);
    bump(cell.body_bytes, body_bytes);
    Durations &durations = durations_[static_cast<size_t>(kind)];
    bump(durations.buckets[duration_bucket(elapsed_us)], 1);
    bump(durations.sum_us, elapsed_us);
  }
  uint64_t requests(RequestKind kind, CacheOutcome outcome) const {
    return cells_[static_cast<size_t>(kind)][static_cast<size_t>(outcome)].requests.load(
        std::memory_order_relaxed);
  }
  uint64_t body_bytes(RequestKind kind, CacheOutcome outcome) const {
    return cells_[static_cast<size_t>(kind)][static_cast<size_t>(outcome)].body_bytes.load(
        std::memory_order_relaxed);
  }

  // Client connections this worker took and ended (regcache_client_connections_*): the open
  // ones are the difference, so the worker never stores a count another thread must trust.
  void connection_opened() { bump(connections_opened_, 1); }
  void connection_closed() { bump(connections_closed_, 1); }
  uint64_t connections_opened() const {
    return connections_opened_.load(std::memory_order_relaxed);
  }
  uint64_t connections_closed() const {
    return connections_closed_.load(std::memory_order_relaxed);
  }

  TunnelCounters tunnels; // CONNECT tunnels (tunnel_counters.h)

  uint64_t duration_count(RequestKind kind, size_t bucket) const {
    return durations_[static_cast<size_t>(kind)].buckets[bucket].load(std::memory_order_relaxed);
  }
  uint64_t duration_sum_us(RequestKind kind) const {
    return durations_[static_cast<size_t>(kind)].sum_us.load(std::memory_order_relaxed);
  }

private:
  static void bump(std::atomic<uint64_t> &counter, uint64_t by) {
    counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }
  struct Durations {
    std::array<std::atomic<uint64_t>, kDurationBounds + 1> buckets{};
    std::atomic<uint64_t> sum_us{0};
  };
  struct Cell {
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> body_bytes{0};
  };
  std::array<std::array<Cell, kCacheOutcomes>, kRequestKinds> cells_{};
  std::array<Durations, kRequestKinds> durations_{};
  std::atomic<uint64_t> connections_opened_{0};
  std::atomic<uint64_t> connections_closed_{0};
};

// The sums over every worker, as plain numbers.
struct RequestTotals {
  std::array<std::array<uint64_t, kCacheOutcomes>, kRequestKinds> requests{};
  std::array<std::array<uint64_t, kCacheOutcomes>, kRequestKinds> body_bytes{};
  std::array<std::array<uint64_t, kDurationBounds + 1>, kRequestKinds> durations{};
  std::array<uint64_t, kRequestKinds> duration_sum_us{};
  uint64_t connections_opened = 0;
  uint64_t connections_closed = 0;
  uint64_t tunnels_opened = 0;
  uint64_t tunnels_closed = 0;
  std::array<uint64_t, kTunnelResults> tunnel_results{};
  uint64_t tunnel_bytes_up = 0;
  uint64_t tunnel_bytes_down = 0;

  void add(const RequestCounters &counters) {
    // Closed before opened: a connection that opens and closes between the two loads is then
    // counted as neither, never as closed without being open.
    connections_closed += counters.connections_closed();
    connections_opened += counters.connections_opened();
    tunnels_closed += counters.tunnels.closed_total();
    tunnels_opened += counters.tunnels.opened_total();
    for (size_t result = 0; result < kTunnelResults; ++result)
      tunnel_results[result] += counters.tunnels.results(static_cast<TunnelResult>(result));
    tunnel_bytes_up += counters.tunnels.bytes_up();
    tunnel_bytes_down += counters.tunnels.bytes_down();
    for (size_t kind = 0; kind < kRequestKinds; ++kind) {
      for (size_t outcome = 0; outcome < kCacheOutcomes; ++outcome) {
        requests[kind][outcome] +=
            counters.requests(static_cast<RequestKind>(kind), static_cast<CacheOutcome>(outcome));
        body_bytes[kind][outcome] +=
            counters.body_bytes(static_cast<RequestKind>(kind), static_cast<CacheOutcome>(outcome));
      }
      for (size_t bucket = 0; bucket <= kDurationBounds; ++bucket)
        durations[kind][bucket] += counters.duration_count(static_cast<RequestKind>(kind), bucket);
      duration_sum_us[kind] += counters.duration_sum_us(static_cast<RequestKind>(kind));
    }
  }
  // Manifest and blob requests the cache answered itself (hit, revalidated, stale), and all of
  // those that reached the cache (those plus miss and follow; pass and error are neither).
  uint64_t cache_answered() const;
  uint64_t cache_lookups() const;
  // Body bytes sent from the cache's own copy: the bandwidth the upstream was spared.
  uint64_t bytes_from_cache() const;
};

} // namespace regcache::registry

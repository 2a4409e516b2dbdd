#pragma once
// What a worker has answered since start: requests and body bytes by the kind of request and by
// how the cache answered it. The numbers behind the service status line, and later the metrics.
// One per worker, written only by its thread (relaxed stores of its own sums, so no atomic
// read-modify-write on the hot path); other threads read them relaxed and add the workers up.
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "registry/serve/cache_outcome.h"

namespace regcache::registry {

enum class RequestKind : uint8_t { Manifest, Blob, Token, Ping, Other };
inline constexpr size_t kRequestKinds = 5;
inline constexpr size_t kCacheOutcomes = 8; // CacheOutcome's values

class RequestCounters {
public:
  void count(RequestKind kind, CacheOutcome outcome, uint64_t body_bytes) {
    Cell &cell = cells_[static_cast<size_t>(kind)][static_cast<size_t>(outcome)];
    // Only this worker writes the cell: load + store is enough, and cheaper than fetch_add.
    cell.requests.store(cell.requests.load(std::memory_order_relaxed) + 1,
                        std::memory_order_relaxed);
    cell.body_bytes.store(cell.body_bytes.load(std::memory_order_relaxed) + body_bytes,
                          std::memory_order_relaxed);
  }
  uint64_t requests(RequestKind kind, CacheOutcome outcome) const {
    return cells_[static_cast<size_t>(kind)][static_cast<size_t>(outcome)].requests.load(
        std::memory_order_relaxed);
  }
  uint64_t body_bytes(RequestKind kind, CacheOutcome outcome) const {
    return cells_[static_cast<size_t>(kind)][static_cast<size_t>(outcome)].body_bytes.load(
        std::memory_order_relaxed);
  }

private:
  struct Cell {
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> body_bytes{0};
  };
  std::array<std::array<Cell, kCacheOutcomes>, kRequestKinds> cells_{};
};

// The sums over every worker, as plain numbers.
struct RequestTotals {
  std::array<std::array<uint64_t, kCacheOutcomes>, kRequestKinds> requests{};
  std::array<std::array<uint64_t, kCacheOutcomes>, kRequestKinds> body_bytes{};

  void add(const RequestCounters &counters) {
    for (size_t kind = 0; kind < kRequestKinds; ++kind) {
      for (size_t outcome = 0; outcome < kCacheOutcomes; ++outcome) {
        requests[kind][outcome] +=
            counters.requests(static_cast<RequestKind>(kind), static_cast<CacheOutcome>(outcome));
        body_bytes[kind][outcome] +=
            counters.body_bytes(static_cast<RequestKind>(kind), static_cast<CacheOutcome>(outcome));
      }
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

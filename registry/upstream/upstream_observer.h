#pragma once
// Counting what the upstreams answer: every registry request (manifests, blobs, HEADs, relays,
// the health probe) by upstream and status, token requests by result, each upstream's last
// contact, and Docker Hub's quota headers. One UpstreamObserver per worker, set as its pool's
// http::ExchangeObserver and written by that worker's thread only (relaxed stores of its own
// numbers: no atomic read-modify-write, no shared cache line on the request path); the server
// adds the workers up at scrape time (UpstreamObservers::totals).
//
// Upstreams are the configured ones, by their index in Config::upstreams, plus one slot for
// every registry a client named with ?ns= that is not configured: clients choose those hosts,
// and a label per host would let them grow /metrics without bound.
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/exchange_observer.h"
#include "http/upstream_exchange.h"
#include "registry/config/config.h"
#include "registry/upstream/recent_upstream_errors.h"
#include "registry/upstream/upstream_observation.h"
#include "registry/upstream/upstream_router.h"

namespace regcache::registry {

// What an observed request was for (UpstreamRequest::observed_as carries it with the slot).
enum class ObservedAs : uint8_t {
  Registry, // a request to the registry itself
  Token,    // a request to its token server (the bearer flow, ACR's exchange and token)
};
// Statuses 100..999 each have a counter (a status line has three digits).
inline constexpr uint16_t kObservedStatusFirst = 100;
inline constexpr size_t kObservedStatuses = 900;
enum class TokenResult : uint8_t {
  Ok,     // 2xx
  Denied, // 401 or 403: the token server refused the credentials
  Failed, // any other status
  Error,  // no answer (connection, TLS, timeout)
};
inline constexpr size_t kTokenResults = 4;
std::string_view token_result_label(TokenResult result);
// The label of the slot of unconfigured registries.
inline constexpr std::string_view kUnconfiguredUpstreamLabel = "unconfigured";

// The slot of `upstream`: its index in config.upstreams, or config.upstreams.size() for an
// unconfigured one (null, or not an element of this configuration).
size_t observed_slot(const Config &config, const UpstreamConfig *upstream);
// The UpstreamRequest::observed_as value for a request to (or for) `upstream`.
uint32_t observed_as(const Config &config, const UpstreamChoice &upstream, ObservedAs purpose);
uint32_t observed_as(size_t slot, ObservedAs purpose);

// The credential label of an upstream's quota: the username configured for it (under its
// URL's authority, its host, or auth.docker.io for Docker Hub, as auth sends them), else
// "anonymous".
std::string credential_label(const Config &config, const UpstreamConfig &upstream);

// One upstream's numbers, summed over the workers.
struct UpstreamSlotTotals {
  std::array<uint64_t, kObservedStatuses> by_status{}; // index: status - kObservedStatusFirst
  uint64_t no_answer = 0;
  std::array<uint64_t, kTokenResults> tokens{};
  int64_t contact_unix_ms = 0;        // the newest contact of any worker; 0: none yet
  bool up = true;                     // that contact's outcome (true before any)
  std::optional<RateLimit> ratelimit; // the newest of any worker (credential not filled in)

  uint64_t requests() const;
  uint64_t status_count(uint16_t status) const;
  uint64_t server_errors() const; // 5xx
};

class UpstreamObserver final : public http::ExchangeObserver {
public:
  // `config` and `recent` outlive the observer.
  UpstreamObserver(const Config &config, RecentUpstreamErrors &recent);
  UpstreamObserver(const UpstreamObserver &) = delete;
  UpstreamObserver &operator=(const UpstreamObserver &) = delete;

  void on_exchange(const http::ExchangeReport &report) override;

  // Any thread: adds this worker's numbers of `slot` into `totals`.
  void add_to(size_t slot, UpstreamSlotTotals &totals) const;
  int64_t contact_unix_ms(size_t slot) const;

private:
  // The last quota seen, written under a sequence count (odd while being written) so a reader
  // on another thread never mixes two answers' values; only this worker writes.
  struct RateLimitCell {
    std::atomic<uint32_t> sequence{0};
    std::atomic<uint64_t> limit{0};
    std::atomic<uint64_t> remaining{0};
    std::atomic<uint64_t> window_s{0};
    std::atomic<int64_t> seen_unix_ms{0}; // 0: never
  };
  struct Slot {
    std::array<std::atomic<uint64_t>, kObservedStatuses> by_status{};
    std::atomic<uint64_t> no_answer{0};
    std::array<std::atomic<uint64_t>, kTokenResults> tokens{};
    // unix ms * 2 + 1 when the contact got an answer below 500; 0: none yet. One word, so the
    // time and the outcome are read together.
    std::atomic<int64_t> contact{0};
    RateLimitCell ratelimit;
  };
  static void bump(std::atomic<uint64_t> &counter) {
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  void note_ratelimit(Slot &slot, const http::ResponseFields &fields, int64_t now_ms);
  std::optional<RateLimit> read_ratelimit(const Slot &slot) const;
  void remember_failure(const http::ExchangeReport &report, size_t slot, int64_t now_ms);

  const Config &config_;
  RecentUpstreamErrors &recent_;
  size_t slot_count_;
  std::unique_ptr<Slot[]> slots_; // sized once at start: nothing grows on the request path
};

// The server's observers, one per worker, and the recent-errors ring they share.
class UpstreamObservers {
public:
  UpstreamObservers(const Config &config, unsigned workers);

  UpstreamObserver &worker(unsigned index) { return *observers_.at(index); }
  // Configured upstreams first (Config::upstreams' order), then the unconfigured slot.
  size_t slots() const { return slot_count_; }
  UpstreamSlotTotals totals(size_t slot) const;
  // The newest contact of any worker with `slot`'s upstream; 0: none.
  int64_t contact_unix_ms(size_t slot) const;
  const RecentUpstreamErrors &recent() const { return recent_; }

private:
  size_t slot_count_;
  RecentUpstreamErrors recent_;
  std::vector<std::unique_ptr<UpstreamObserver>> observers_;
};

} // namespace regcache::registry

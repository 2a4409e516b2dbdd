#pragma once
// Counting what the upstreams answer: every registry request (manifests, blobs, HEADs, relays,
// the health probe) by upstream and status, token requests by result, each upstream's last
// contact, and Docker Hub's quota headers. One UpstreamObserver per worker, set as its pool's
// http::ExchangeObserver and written by that worker's thread only (relaxed stores of its own
// numbers: no atomic read-modify-write, no shared cache line on the request path); the server
// adds the workers up at scrape time (UpstreamObservers::totals).
//
// Upstreams are the configured ones, each with a slot of its own kept by host for the process's
// life (ObservedHosts: a reload that adds, removes or reorders upstreams never moves a host's
// counters to another), plus one slot for every registry a client named with ?ns= that is not
// configured: clients choose those hosts, and a label per host would let them grow /metrics
// without bound.
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
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

// Configured hosts with a slot of their own, over the process's life (reloads add hosts, and a
// removed one keeps its counters); a host added past this counts as unconfigured.
inline constexpr size_t kObservedHostsMax = 32;
inline constexpr size_t kUnconfiguredSlot = kObservedHostsMax;
inline constexpr size_t kObservedSlots = kObservedHostsMax + 1;

// Which slot each configured host has. Written by the main thread only (at start and on each
// reload, before the configuration that uses the slots is published); read by any thread. A
// slot's host is written once, before the count that shows it, and never changed.
class ObservedHosts {
public:
  // The slot of each of config.upstreams, by index, giving new hosts the next free slots.
  std::vector<uint32_t> assign(const Config &config);
  size_t count() const { return count_.load(std::memory_order_acquire); }
  // slot < count(), or the unconfigured slot.
  std::string_view label(size_t slot) const;

private:
  std::array<std::string, kObservedHostsMax> hosts_;
  std::atomic<size_t> count_{0};
};

// The slot of `upstream` under `config`, whose upstreams have the slots `slots` (by index):
// kUnconfiguredSlot for an unconfigured one (null, or not an element of this configuration).
size_t observed_slot(const Config &config, std::span<const uint32_t> slots,
                     const UpstreamConfig *upstream);
// The UpstreamRequest::observed_as value for a request to (or for) `upstream`.
uint32_t observed_as(const Config &config, std::span<const uint32_t> slots,
                     const UpstreamChoice &upstream, ObservedAs purpose);
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
  // `hosts` and `recent` outlive the observer.
  UpstreamObserver(const ObservedHosts &hosts, RecentUpstreamErrors &recent);
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

  const ObservedHosts &hosts_;
  RecentUpstreamErrors &recent_;
  std::unique_ptr<Slot[]> slots_; // kObservedSlots, made at start: nothing grows on a request
};

// The server's observers, one per worker, and the recent-errors ring they share.
class UpstreamObservers {
public:
  explicit UpstreamObservers(unsigned workers);

  UpstreamObserver &worker(unsigned index) { return *observers_.at(index); }
  ObservedHosts &hosts() { return hosts_; }
  const ObservedHosts &hosts() const { return hosts_; }
  UpstreamSlotTotals totals(size_t slot) const;
  // The newest contact of any worker with `slot`'s upstream; 0: none.
  int64_t contact_unix_ms(size_t slot) const;
  const RecentUpstreamErrors &recent() const { return recent_; }

private:
  ObservedHosts hosts_;
  RecentUpstreamErrors recent_;
  std::vector<std::unique_ptr<UpstreamObserver>> observers_;
};

} // namespace regcache::registry

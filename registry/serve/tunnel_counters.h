#pragma once
// What a worker's CONNECT tunnels did since start (regcache_tunnels_*): opened and ended (the
// open ones are the difference), each CONNECT's result, and the bytes carried each way. One per
// worker inside its RequestCounters, written only by its thread (relaxed load + store), read by
// the metrics page from any thread.
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace regcache::registry {

// How a CONNECT ended, as regcache_tunnels_total's `result` label names it.
enum class TunnelResult : uint8_t {
  Ok,             // tunnelled (whatever happened after the 200)
  RefusedPort,    // 403: not an allowed port
  RefusedAddress, // 403: a loopback, link-local, multicast... destination
  Auth,           // 407: no or wrong Proxy-Authorization
  Unreachable,    // 502: the name did not resolve, or the connect failed
  Timeout,        // 504: the connect took longer than the tunnel connect timeout
  Busy,           // 503: --tunnels-max, no pipes, or the resolver's queue full
};
inline constexpr size_t kTunnelResults = 7;
std::string_view tunnel_result_name(TunnelResult result);

class TunnelCounters {
public:
  void opened() { bump(opened_, 1); }
  void closed() { bump(closed_, 1); }
  void count(TunnelResult result) { bump(results_[static_cast<size_t>(result)], 1); }
  void carried(uint64_t bytes_up, uint64_t bytes_down) {
    bump(bytes_up_, bytes_up);
    bump(bytes_down_, bytes_down);
  }

  uint64_t opened_total() const { return opened_.load(std::memory_order_relaxed); }
  uint64_t closed_total() const { return closed_.load(std::memory_order_relaxed); }
  uint64_t results(TunnelResult result) const {
    return results_[static_cast<size_t>(result)].load(std::memory_order_relaxed);
  }
  uint64_t bytes_up() const { return bytes_up_.load(std::memory_order_relaxed); }
  uint64_t bytes_down() const { return bytes_down_.load(std::memory_order_relaxed); }

private:
  static void bump(std::atomic<uint64_t> &counter, uint64_t by) {
    counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }
  std::atomic<uint64_t> opened_{0};
  std::atomic<uint64_t> closed_{0};
  std::array<std::atomic<uint64_t>, kTunnelResults> results_{};
  std::atomic<uint64_t> bytes_up_{0};
  std::atomic<uint64_t> bytes_down_{0};
};

} // namespace regcache::registry

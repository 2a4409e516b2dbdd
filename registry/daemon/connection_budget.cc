#include "registry/daemon/connection_budget.h"

#include <algorithm>
#include <cassert>

namespace regcache::registry {

ConnectionBudget plan_connection_budget(const ConnectionBudgetInputs &inputs) {
  assert(inputs.workers >= 1);
  ConnectionBudget budget;
  uint64_t shared = inputs.fd_limit > kProcessFds ? inputs.fd_limit - kProcessFds : 0;
  uint64_t per_worker = shared / inputs.workers;
  // Held at the upstream bounds: sockets in use, idle pooled sockets, and each download's
  // temp file (its socket is one of those in use).
  uint64_t upstream = uint64_t{inputs.upstream_active_max} + inputs.upstream_idle_max +
                      inputs.fetches_max + kWorkerFds + kRefusalsInFlightMax;
  uint64_t left = per_worker > upstream ? per_worker - upstream : 0;
  // Three quarters of what is left are connections (one fd each); the last quarter is for what
  // a response holds on top of its socket: the cached file it sends (an eighth) and the splice
  // pipes (an eighth: left / 16 pipes of two fds). A connection waiting between requests holds
  // only its socket, so the cap is reachable with every other fd still free.
  uint64_t connections = left / 4 * 3;
  budget.fd_limit_too_low = connections < kConnectionsFloor;
  connections = std::max<uint64_t>(connections, kConnectionsFloor);
  connections = std::min<uint64_t>(connections, UINT32_MAX);
  budget.fd_connections_max = static_cast<uint32_t>(connections);
  budget.connections_max = std::min(inputs.connections_max, budget.fd_connections_max);
  budget.limited_by_fds = inputs.connections_max > budget.fd_connections_max;
  // At least one pipe, so a hit can splice; past the pool, hits are copied through user space.
  uint64_t pipes = std::clamp<uint64_t>(left / 16, 1, budget.connections_max);
  budget.pipes_max = static_cast<uint32_t>(pipes);
  return budget;
}

} // namespace regcache::registry

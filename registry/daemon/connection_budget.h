#pragma once
// How many client connections a worker may hold, from the process's fd limit: every client
// connection is an fd, and so is everything else regcache opens, so the cap leaves room for the
// rest instead of letting accept() or an upstream connect fail with EMFILE. A pure function of
// the settings, so the arithmetic is tested without touching the process's limits.
#include <cstdint>

namespace regcache::registry {

struct ConnectionBudgetInputs {
  uint64_t fd_limit = 0; // RLIMIT_NOFILE soft limit, after raising it
  unsigned workers = 1;
  uint32_t connections_max = 0; // --connections-max (kConnectionsMaxFromFdLimit: not given)
  uint32_t upstream_active_max = 0;
  uint32_t upstream_idle_max = 0; // idle pooled upstream connections per worker, all endpoints
  uint32_t fetches_max = 0;
};

struct ConnectionBudget {
  uint32_t connections_max = 0;    // per worker: the cap accept enforces
  uint32_t pipes_max = 0;          // per worker: splice pipes (two fds each)
  uint32_t fd_connections_max = 0; // what the fd limit alone allows per worker
  bool limited_by_fds = false;     // the fd limit, not --connections-max, set the cap
  // The fd limit does not even cover the upstream bounds: the cap is the floor, and the
  // operator should raise the hard limit (LimitNOFILE=) or lower the upstream bounds.
  bool fd_limit_too_low = false;
};

// Fds the process holds whatever the load: stdio, the store's directories, the resolver's
// private rings, files read at start.
inline constexpr uint64_t kProcessFds = 64;
// Per worker: its ring, its listening socket, the reserve fd of the listener, and spare.
inline constexpr uint64_t kWorkerFds = 8;
// Per worker: connections being refused with 503 hold their fd while the answer drains.
inline constexpr uint32_t kRefusalsInFlightMax = 32;
// A worker always takes at least this many connections, however low the limit.
inline constexpr uint32_t kConnectionsFloor = 16;

ConnectionBudget plan_connection_budget(const ConnectionBudgetInputs &inputs);

} // namespace regcache::registry

#pragma once
// The upstream health probe: a configured upstream that nothing has reached for
// --upstream-check-interval-ms gets a `GET /v2/`, so its entry in the observations
// (regcache_upstream_up, /readyz) says whether it answers even when no client pulls from it.
//
// The probe sends no credentials at all (a registry answers an anonymous /v2/ with 200 or 401,
// and both mean it is reachable), so no upstream's secret can reach another host. It goes only
// to configured upstreams, at their configured URL with their own TLS settings: hosts the
// operator chose, never one a client named (so the SSRF rule for client-named hosts, public
// addresses only, does not apply and is not loosened). One probe is in flight at a time, each
// bounded by the pool's connect and read timeouts and by kProbeBodyBytesMax.
#include <cstdint>

#include "core/task.h"
#include "registry/serve/worker_context.h"
#include "registry/upstream/upstream_observer.h"

namespace regcache::registry {

inline constexpr uint64_t kProbeBodyBytesMax = 16 * 1024; // a /v2/ answer is a few bytes
// How often the probe looks at the clock: short, so a stopping worker is not held up.
inline constexpr uint32_t kProbeTickMs = 100;

// Runs on one worker until it stops (worker.upstream_probe_running is true meanwhile).
core::Task<void> probe_upstreams(WorkerContext &worker, const UpstreamObservers &observed);

} // namespace regcache::registry

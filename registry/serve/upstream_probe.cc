#include "registry/serve/upstream_probe.h"

#include "core/io_ops.h"
#include "core/unix_time.h"
#include "registry/upstream/small_fetch.h"

namespace regcache::registry {
namespace {

// `generation` is held by the caller for the whole probe: `upstream` is one of its upstreams.
core::Task<void> probe_one(WorkerContext &worker, const ConfigGeneration &generation,
                           const UpstreamConfig &upstream, size_t slot) {
  http::Endpoint endpoint = endpoint_of(upstream.url);
  auto it = generation.upstream_tls.find(&upstream);
  if (it != generation.upstream_tls.end())
    endpoint.tls_context = it->second;
  // No Authorization header: see the file comment. The observer records the outcome (the
  // exchange is tagged as a registry request of this upstream).
  const http::UpstreamRequest request{"GET", "/v2/", {},
                                      {},    {},     observed_as(slot, ObservedAs::Registry)};
  SmallResponse answer;
  co_await fetch_small(worker.upstreams, endpoint, request, kProbeBodyBytesMax, answer);
}

} // namespace

core::Task<void> probe_upstreams(WorkerContext &worker, const UpstreamObservers &observed) {
  struct Running {
    WorkerContext &worker;
    explicit Running(WorkerContext &w) : worker(w) { worker.upstream_probe_running = true; }
    ~Running() { worker.upstream_probe_running = false; }
  } running{worker};
  // Ends when the worker stops: every turn sleeps one tick, then probes at most every upstream
  // of the running configuration once (a reload may have added, removed or changed them).
  while (!worker.stopping) {
    co_await core::sleep_ms(kProbeTickMs);
    const std::shared_ptr<const ConfigGeneration> generation = worker.current_generation();
    const Config &config = generation->config;
    if (config.upstream_check_interval_ms == 0)
      continue; // turned off by a reload
    for (size_t i = 0; i < config.upstreams.size() && !worker.stopping; ++i) {
      const size_t slot = observed_slot(config, generation->observed_slots, &config.upstreams[i]);
      if (slot == kUnconfiguredSlot)
        continue; // past the slots kept by host: nothing would record the answer
      const int64_t since_ms = core::unix_now_ms() - observed.contact_unix_ms(slot);
      if (since_ms < int64_t{config.upstream_check_interval_ms})
        continue; // a client's request (or the last probe) reached it recently enough
      co_await probe_one(worker, *generation, config.upstreams[i], slot);
    }
  }
}

} // namespace regcache::registry

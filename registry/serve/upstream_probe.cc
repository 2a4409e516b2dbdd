#include "registry/serve/upstream_probe.h"

#include "core/io_ops.h"
#include "core/unix_time.h"
#include "registry/upstream/small_fetch.h"

namespace regcache::registry {
namespace {

core::Task<void> probe_one(WorkerContext &worker, size_t slot) {
  const UpstreamConfig &upstream = worker.config.upstreams[slot];
  http::Endpoint endpoint = endpoint_of(upstream.url);
  if (worker.upstream_tls != nullptr) {
    auto it = worker.upstream_tls->find(&upstream);
    if (it != worker.upstream_tls->end())
      endpoint.tls_context = it->second;
  }
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
  const int64_t interval_ms = worker.config.upstream_check_interval_ms;
  const size_t configured = worker.config.upstreams.size();
  // Ends when the worker stops: every turn sleeps one tick, then probes at most every
  // configured upstream once.
  while (!worker.stopping) {
    co_await core::sleep_ms(kProbeTickMs);
    for (size_t slot = 0; slot < configured && !worker.stopping; ++slot) {
      const int64_t since_ms = core::unix_now_ms() - observed.contact_unix_ms(slot);
      if (since_ms < interval_ms)
        continue; // a client's request (or the last probe) reached it recently enough
      co_await probe_one(worker, slot);
    }
  }
}

} // namespace regcache::registry

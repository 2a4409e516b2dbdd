// Server's ServiceProbe: the metrics text and the readiness check, kept apart from the start-up
// and worker code in server.cc.
#include <unistd.h>

#include <string_view>

#include "core/prometheus_text.h"
#include "registry/config/options.h"
#include "registry/daemon/server.h"

namespace regcache::registry {
namespace {

constexpr std::string_view kKindNames[kRequestKinds] = {"manifest", "blob", "token", "ping",
                                                        "other"};

std::string_view result_label(CacheOutcome outcome) {
  switch (outcome) {
  case CacheOutcome::None:
    return "none";
  case CacheOutcome::Hit:
    return "hit";
  case CacheOutcome::Revalidated:
    return "revalidated";
  case CacheOutcome::Miss:
    return "miss";
  case CacheOutcome::Follow:
    return "follow";
  case CacheOutcome::Stale:
    return "stale";
  case CacheOutcome::Pass:
    return "pass";
  case CacheOutcome::Error:
    return "error";
  }
  return "none";
}

} // namespace

std::string Server::metrics_text() const {
  using Type = core::PrometheusText::Type;
  const RequestTotals totals = request_totals();
  core::PrometheusText out;
  out.family("regcache_build_info", Type::Gauge, "regcache's version (always 1)");
  out.sample("regcache_build_info", {{"version", kRegcacheVersion}}, uint64_t{1});

  out.family("regcache_requests_total", Type::Counter,
             "requests answered, by kind and by how the cache answered them");
  for (size_t kind = 0; kind < kRequestKinds; ++kind) {
    for (size_t outcome = 0; outcome < kCacheOutcomes; ++outcome) {
      uint64_t count = totals.requests[kind][outcome];
      if (count == 0)
        continue; // series appear once they count something
      out.sample("regcache_requests_total",
                 {{"kind", kKindNames[kind]},
                  {"result", result_label(static_cast<CacheOutcome>(outcome))}},
                 count);
    }
  }
  out.family("regcache_response_body_bytes_total", Type::Counter,
             "response body bytes sent to clients, by kind and result (hit, revalidated and "
             "stale are served from the cache)");
  for (size_t kind = 0; kind < kRequestKinds; ++kind) {
    for (size_t outcome = 0; outcome < kCacheOutcomes; ++outcome) {
      if (totals.requests[kind][outcome] == 0)
        continue;
      out.sample("regcache_response_body_bytes_total",
                 {{"kind", kKindNames[kind]},
                  {"result", result_label(static_cast<CacheOutcome>(outcome))}},
                 totals.body_bytes[kind][outcome]);
    }
  }
  out.family("regcache_served_from_cache_bytes_total", Type::Counter,
             "body bytes of manifests and blobs answered from the cache: what the upstreams "
             "did not have to send");
  out.sample("regcache_served_from_cache_bytes_total", {}, totals.bytes_from_cache());
  out.family("regcache_request_duration_seconds", Type::Histogram,
             "time from a request's head to its last response byte, by kind");
  for (size_t kind = 0; kind < kRequestKinds; ++kind) {
    out.histogram("regcache_request_duration_seconds", {{"kind", kKindNames[kind]}},
                  kDurationBoundsS, kDurationBounds, totals.durations[kind].data(),
                  static_cast<double>(totals.duration_sum_us[kind]) / 1e6);
  }

  out.family("regcache_downloads_in_flight", Type::Gauge, "upstream blob downloads running");
  out.sample("regcache_downloads_in_flight", {}, uint64_t{fetches_.running()});
  const BlobIndex &index = store_.index();
  out.family("regcache_cache_content_bytes", Type::Gauge, "bytes of published blobs and manifests");
  out.sample("regcache_cache_content_bytes", {}, index.content_bytes());
  out.family("regcache_cache_entries", Type::Gauge, "published blobs and manifests");
  out.sample("regcache_cache_entries", {}, index.count());
  out.family("regcache_cache_capacity_bytes", Type::Gauge,
             "--cache-max-size: published content is evicted from 95% of it");
  out.sample("regcache_cache_capacity_bytes", {}, running()->config.cache_max_size_bytes);
  out.family("regcache_cache_evictions_total", Type::Counter, "blobs and manifests evicted");
  out.sample("regcache_cache_evictions_total", {}, evictor_ ? evictor_->evicted_total() : 0);
  out.family("regcache_cache_evicted_bytes_total", Type::Counter, "disk bytes freed by eviction");
  out.sample("regcache_cache_evicted_bytes_total", {},
             evictor_ ? evictor_->evicted_bytes_total() : 0);
  out.family("regcache_workers", Type::Gauge, "worker threads, each with its own ring");
  out.sample("regcache_workers", {}, uint64_t{workers_.size()});
  out.family("regcache_config_reloads_total", Type::Counter,
             "configuration reloads (SIGHUP): applied, or refused with the old one kept");
  out.sample("regcache_config_reloads_total", {{"result", "ok"}}, reloads_applied());
  out.sample("regcache_config_reloads_total", {{"result", "failed"}}, reloads_refused());
  out.family("regcache_config_last_reload_timestamp_seconds", Type::Gauge,
             "when the last reload, applied or refused, happened (unix time; 0: none yet)");
  out.sample("regcache_config_last_reload_timestamp_seconds", {},
             static_cast<uint64_t>(last_reload_unix_s()));
  return out.text();
}

bool Server::ready(std::string *why) const {
  const std::shared_ptr<const ConfigGeneration> generation = running();
  const Config &config = generation->config;
  if (!config.drain_file.empty() && ::access(config.drain_file.c_str(), F_OK) == 0) {
    *why = "draining: " + config.drain_file + " exists";
    return false;
  }
  for (const auto &worker : workers_) {
    if (worker_done(*worker)) {
      *why = "a worker has ended";
      return false;
    }
  }
  // Downloads are written under tmp/ and renamed into blobs/: both must stay writable (a
  // read-only remount, a changed owner).
  for (const char *dir : {"/tmp", "/blobs"}) {
    std::string path = config.cache_dir + dir;
    if (::access(path.c_str(), W_OK) != 0) {
      *why = "the cache directory " + path + " is not writable";
      return false;
    }
  }
  return true;
}

} // namespace regcache::registry

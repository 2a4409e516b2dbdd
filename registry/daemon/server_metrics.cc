// Server's ServiceProbe: the metrics text and the readiness check, and the upstream
// observations behind them, kept apart from the start-up and worker code in server.cc.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <vector>

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
  case CacheOutcome::Push:
    return "push";
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

  // Client connections (the workers' counts of opened and closed, summed).
  out.family("regcache_client_connections_open", Type::Gauge, "client connections open now");
  out.sample("regcache_client_connections_open", {},
             totals.connections_opened -
                 std::min(totals.connections_opened, totals.connections_closed));
  out.family("regcache_client_connections_accepted_total", Type::Counter,
             "client connections taken and served (not those refused at a bound)");
  out.sample("regcache_client_connections_accepted_total", {}, totals.connections_opened);

  // Proxy mode's leaf certificates: made (each a key and a signature off the workers) and kept.
  out.family("regcache_proxy_leaf_certificates_minted_total", Type::Counter,
             "leaf certificates made for intercepted hosts");
  out.sample("regcache_proxy_leaf_certificates_minted_total", {},
             leaf_certificates_ ? leaf_certificates_->minted_total() : 0);
  out.family("regcache_proxy_leaf_certificates_cached", Type::Gauge,
             "leaf certificates kept in memory (--leaf-certificates-max at most)");
  out.sample("regcache_proxy_leaf_certificates_cached", {},
             uint64_t{leaf_certificates_ ? leaf_certificates_->cached() : 0});
  // CONNECT tunnels (registry/serve/connect_tunnel.h).
  out.family("regcache_tunnels_open", Type::Gauge, "CONNECT tunnels carrying bytes now");
  out.sample("regcache_tunnels_open", {},
             totals.tunnels_opened - std::min(totals.tunnels_opened, totals.tunnels_closed));
  out.family("regcache_tunnels_total", Type::Counter,
             "CONNECT requests not intercepted, by result: ok (tunnelled) or why refused");
  for (size_t result = 0; result < kTunnelResults; ++result) {
    out.sample("regcache_tunnels_total",
               {{"result", tunnel_result_name(static_cast<TunnelResult>(result))}},
               totals.tunnel_results[result]);
  }
  out.family("regcache_tunnel_bytes_total", Type::Counter,
             "bytes carried by ended CONNECT tunnels: up (client to destination) and down");
  out.sample("regcache_tunnel_bytes_total", {{"direction", "up"}}, totals.tunnel_bytes_up);
  out.sample("regcache_tunnel_bytes_total", {{"direction", "down"}}, totals.tunnel_bytes_down);

  write_upstream_metrics(out);
  out.family("regcache_upstream_proxy_connects_total", Type::Counter,
             "CONNECTs through --upstream-proxy, by result (ok: tunnel open, refused: the proxy "
             "answered with another status, 407 for bad credentials; failed: proxy unreachable, "
             "silent or not speaking HTTP)");
  const std::array<uint64_t, 3> proxy_results = proxy_connect_totals();
  constexpr std::string_view kProxyResults[] = {"ok", "refused", "failed"};
  for (size_t result = 0; result < std::size(kProxyResults); ++result)
    out.sample("regcache_upstream_proxy_connects_total", {{"result", kProxyResults[result]}},
               proxy_results[result]);
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

// What the upstreams answered: requests by status, token requests by result, health and the
// Docker Hub quota, from the workers' observers (registry/upstream/upstream_observer.h).
void Server::write_upstream_metrics(core::PrometheusText &out) const {
  using Type = core::PrometheusText::Type;
  if (!upstream_observers_)
    return;
  // Every host that ever had a slot (a removed upstream's counters stay: counters never go
  // back), then the unconfigured slot.
  const ObservedHosts &hosts = upstream_observers_->hosts();
  std::vector<size_t> slot_numbers(hosts.count());
  for (size_t slot = 0; slot < slot_numbers.size(); ++slot)
    slot_numbers[slot] = slot;
  slot_numbers.push_back(kUnconfiguredSlot);
  std::vector<UpstreamSlotTotals> slots;
  slots.reserve(slot_numbers.size());
  for (size_t slot : slot_numbers)
    slots.push_back(upstream_observers_->totals(slot));
  auto label_of = [&](size_t index) { return hosts.label(slot_numbers[index]); };
  out.family("regcache_upstream_requests_total", Type::Counter,
             "requests sent to upstream registries (manifests, blobs, HEADs, relays, health "
             "probes), by upstream and the status of the answer; status=\"error\": no answer "
             "(connection, TLS, timeout)");
  for (size_t slot = 0; slot < slots.size(); ++slot) {
    const UpstreamSlotTotals &totals = slots[slot];
    for (size_t i = 0; i < kObservedStatuses; ++i) {
      if (totals.by_status[i] == 0)
        continue; // series appear once they count something
      const std::string status = std::to_string(kObservedStatusFirst + i);
      out.sample("regcache_upstream_requests_total",
                 {{"upstream", label_of(slot)}, {"status", status}}, totals.by_status[i]);
    }
    if (totals.no_answer != 0) {
      out.sample("regcache_upstream_requests_total",
                 {{"upstream", label_of(slot)}, {"status", "error"}}, totals.no_answer);
    }
  }
  out.family("regcache_upstream_token_requests_total", Type::Counter,
             "requests to upstreams' token servers (bearer flow, ACR exchange and token, Entra "
             "ID), by upstream and result (ok, denied: 401/403, failed: another status, error: "
             "no answer)");
  for (size_t slot = 0; slot < slots.size(); ++slot) {
    for (size_t result = 0; result < kTokenResults; ++result) {
      const uint64_t count = slots[slot].tokens[result];
      if (count == 0)
        continue;
      out.sample("regcache_upstream_token_requests_total",
                 {{"upstream", label_of(slot)},
                  {"result", token_result_label(static_cast<TokenResult>(result))}},
                 count);
    }
  }
  // Health and quota: the running configuration's upstreams only (the unconfigured slot is
  // many registries, and a removed upstream's health is nobody's concern).
  const std::vector<UpstreamObservation> observed = upstream_observations();
  out.family("regcache_upstream_up", Type::Gauge,
             "1 when the upstream's last contact (a request or the probe) got an answer below "
             "500; 1 before any contact");
  for (const UpstreamObservation &seen : observed)
    out.sample("regcache_upstream_up", {{"upstream", seen.host}}, uint64_t{seen.up ? 1u : 0u});
  out.family("regcache_upstream_last_check_timestamp_seconds", Type::Gauge,
             "Unix time of the upstream's last contact; 0: none yet");
  for (const UpstreamObservation &seen : observed)
    out.sample("regcache_upstream_last_check_timestamp_seconds", {{"upstream", seen.host}},
               static_cast<double>(seen.last_check_unix_ms) / 1000.0);
  struct Quota {
    std::string_view upstream;
    std::string_view credential;
    RateLimit value;
  };
  std::vector<Quota> quotas;
  for (const UpstreamObservation &seen : observed) {
    if (seen.ratelimit)
      quotas.push_back(Quota{seen.host, seen.ratelimit->credential, *seen.ratelimit});
  }
  out.family("regcache_upstream_ratelimit_remaining", Type::Gauge,
             "requests left in the upstream's window, from its last RateLimit-Remaining header "
             "(Docker Hub's pull quota)");
  for (const Quota &quota : quotas)
    out.sample("regcache_upstream_ratelimit_remaining",
               {{"upstream", quota.upstream}, {"credential", quota.credential}},
               quota.value.remaining);
  out.family("regcache_upstream_ratelimit_limit", Type::Gauge,
             "requests allowed per window, from the upstream's last RateLimit-Limit header");
  for (const Quota &quota : quotas)
    out.sample("regcache_upstream_ratelimit_limit",
               {{"upstream", quota.upstream}, {"credential", quota.credential}}, quota.value.limit);
  out.family("regcache_upstream_ratelimit_window_seconds", Type::Gauge,
             "the quota's window (the headers' w= parameter), when the upstream gives one");
  for (const Quota &quota : quotas) {
    if (quota.value.window_s != 0)
      out.sample("regcache_upstream_ratelimit_window_seconds",
                 {{"upstream", quota.upstream}, {"credential", quota.credential}},
                 quota.value.window_s);
  }
}

// The upstream observations as plain values, for the status page and the gauges: the running
// configuration's upstreams, in its order.
std::vector<UpstreamObservation> Server::upstream_observations() const {
  std::vector<UpstreamObservation> out;
  if (!upstream_observers_)
    return out;
  const std::shared_ptr<const ConfigGeneration> generation = running();
  const Config &config = generation->config;
  out.reserve(config.upstreams.size());
  for (const UpstreamConfig &upstream : config.upstreams) {
    const size_t slot = observed_slot(config, generation->observed_slots, &upstream);
    if (slot == kUnconfiguredSlot)
      continue; // past the slots kept by host: counted as unconfigured
    const UpstreamSlotTotals totals = upstream_observers_->totals(slot);
    UpstreamObservation seen;
    seen.host = upstream.host;
    seen.up = totals.up;
    seen.last_check_unix_ms = totals.contact_unix_ms;
    seen.last_check_unix_s = totals.contact_unix_ms / 1000;
    seen.ratelimit = totals.ratelimit;
    if (seen.ratelimit)
      seen.ratelimit->credential = credential_label(config, upstream);
    seen.requests = totals.requests();
    seen.errors = totals.no_answer + totals.server_errors();
    seen.too_many_requests = totals.status_count(429);
    out.push_back(std::move(seen));
  }
  return out;
}

std::vector<RecentUpstreamError> Server::recent_upstream_errors() const {
  if (!upstream_observers_)
    return {};
  return upstream_observers_->recent().snapshot();
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
  return an_upstream_reachable(why);
}

// The "at least one upstream reachable within its last check". An upstream not
// contacted yet counts as reachable: right after start nothing is known, and failing readiness
// then would keep a fresh instance out of its load balancer before it has tried anything (the
// probe reaches every configured upstream within a tick of the start).
bool Server::an_upstream_reachable(std::string *why) const {
  if (!upstream_observers_)
    return true;
  const std::vector<UpstreamObservation> observed = upstream_observations();
  if (observed.empty())
    return true; // nothing observable to judge by
  std::string down;
  for (const UpstreamObservation &seen : observed) {
    if (seen.last_check_unix_ms == 0 || seen.up)
      return true;
    if (!down.empty())
      down += ", ";
    down += seen.host;
  }
  *why = "no upstream answered at its last check (" + down + ")";
  return false;
}

} // namespace regcache::registry

#pragma once
// The daemon: the store, the upstream TLS context, and N worker threads, each with its own ring
// and its own SO_REUSEPORT listening socket, so the kernel spreads connections and nothing about
// a connection is shared between threads.
#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/fd_limit.h"
#include "core/operation.h"
#include "registry/cache/blob_fetch.h"
#include "registry/cache/blob_store.h"
#include "registry/cache/evictor.h"
#include "registry/cache/scrubber.h"
#include "registry/cache/single_flight.h"
#include "registry/cache/tag_store.h"
#include "registry/config/config.h"
#include "registry/config/options.h"
#include "registry/daemon/connection_budget.h"
#include "registry/daemon/service_status.h"
#include "registry/daemon/traffic_history.h"
#include "registry/serve/config_generation.h"
#include "registry/serve/connections_per_client.h"
#include "registry/serve/image_rankings.h"
#include "registry/serve/service_probe.h"
#include "registry/upstream/upstream_observation.h"
#include "registry/upstream/upstream_observer.h"
#include "tls/certificate_authority.h"
#include "tls/leaf_certificates.h"
#include "tls/server_context.h"
#include "tls/tls_context.h"

namespace regcache::core {
class PrometheusText;
} // namespace regcache::core

namespace regcache::registry {

struct StatusPageView;

// What a reload did, for the log line main writes.
struct ReloadReport {
  bool applied = false;
  std::string line; // one line, no secret: the new generation and what needs a restart, or why
                    // the reload was refused
};

class Server final : public ServiceProbe {
public:
  explicit Server(Config config);
  ~Server();
  Server(const Server &) = delete;
  Server &operator=(const Server &) = delete;

  // Raises the fd limit and sizes the connection cap from it, opens the store, binds the
  // sockets and starts the workers. False with `error` set when
  // something the operator must fix is wrong (a bad cache dir, a port in use, a bad CA file).
  bool start(std::string *error);
  // A reload (SIGHUP), on the main thread: `parsed` is the command line, environment, config
  // file and Docker config read again. Validated as start() validates (CA files, TLS settings,
  // htpasswd, TTL tiers) and published as a new generation that new requests use; requests and
  // downloads in progress keep theirs. Settings only a restart can change keep their running
  // values (registry/config/restart_settings.h) and are named in the report. Refused, with the
  // old configuration kept whole, when anything is wrong.
  ReloadReport reload(const ParsedOptions &parsed);
  // For /metrics: reloads applied and refused, and when the last one (either) happened (unix
  // seconds, 0: none yet).
  uint64_t reloads_applied() const { return reloads_applied_.load(); }
  uint64_t reloads_refused() const { return reloads_refused_.load(); }
  int64_t last_reload_unix_s() const { return last_reload_unix_s_.load(); }
  // Graceful stop, callable from any thread: stop accepting, let responses finish for up to
  // --shutdown-grace-ms, then end.
  void request_stop();
  bool finished() const;
  void join();

  const core::FdLimit &fd_limit() const { return fd_limit_; }
  const ConnectionBudget &connection_budget() const { return budget_; }
  // Sums over the workers, callable from any thread while the server runs.
  RequestTotals request_totals() const override;
  // regcache_upstream_proxy_connects_total: ok, refused, failed.
  std::array<uint64_t, 3> proxy_connect_totals() const;
  ServiceSummary summary() const;
  // What the upstreams answered (registry/upstream/upstream_observation.h), for the status
  // page: one entry per configured upstream in configuration order, and the recent failures
  // and 429s, oldest first. Callable from any thread while the server runs.
  std::vector<UpstreamObservation> upstream_observations() const;
  std::vector<RecentUpstreamError> recent_upstream_errors() const;
  // ServiceProbe, for /metrics and /readyz (answered by the workers).
  std::string metrics_text() const override;
  bool ready(std::string *why) const override;
  // The status page (server_status_page.cc).
  std::string status_page_html() const override;
  StatusPageView status_page_view() const;
  // The page's upstream rows: the configured hosts, and what is known of their health.
  void fill_upstream_rows(StatusPageView &view) const;
  // The watchdog: ask_workers() posts a question to every worker's ring, and workers_answered()
  // is true once each has run it (and none has ended). A worker stuck in a loop or a blocking
  // call never answers, and systemd restarts the service.
  void ask_workers();
  bool workers_answered() const;

private:
  struct Worker;
  static void on_heartbeat(core::Operation &op, int32_t result, uint32_t flags);
  static bool worker_done(const Worker &worker);
  void run_worker(Worker &worker);
  // Proxy mode's CA, leaf certificates and TLS context; false when the CA cannot be used.
  bool load_proxy_tls(const Config &config, std::string *error);
  // --metrics-listen: one socket per worker; true when not given.
  bool listen_for_metrics(unsigned workers, std::string *error);
  // The upstream part of metrics_text() and ready() (server_metrics.cc).
  void write_upstream_metrics(core::PrometheusText &out) const;
  bool an_upstream_reachable(std::string *why) const;

  ReloadReport refuse_reload(std::string reason);
  // The running configuration (the newest generation), for the main thread and /metrics.
  std::shared_ptr<const ConfigGeneration> running() const { return generations_.current(); }

  // Given to the constructor, moved into generation 1 by start().
  Config startup_config_;
  ConfigPublisher generations_;
  BlobStore store_;
  FetchTable fetches_;
  TagStore tags_;
  SingleFlight revalidations_;
  std::atomic<uint64_t> reloads_applied_{0};
  std::atomic<uint64_t> reloads_refused_{0};
  std::atomic<int64_t> last_reload_unix_s_{0};
  core::FdLimit fd_limit_;
  ConnectionBudget budget_;
  ConnectionsPerClient connections_per_client_; // shared by the workers
  // Proxy mode: the CA (loaded or made at every start), the leaf certificates it signs for
  // intercepted hosts, and the server side's TLS context, all shared by the workers. Declared
  // before workers_ so they outlive them.
  std::shared_ptr<const tls::CertificateAuthority> proxy_ca_;
  std::unique_ptr<tls::LeafCertificates> leaf_certificates_;
  std::unique_ptr<tls::ServerContext> proxy_tls_;
  std::vector<std::unique_ptr<Worker>> workers_;
  // Background threads over the store (disk limits, rot); stopped after the workers, and the
  // evictor saves the index as it stops.
  std::unique_ptr<Scrubber> scrubber_;
  std::unique_ptr<Evictor> evictor_;
  // For the status page: the images clients pull (counted by the workers) and the per-day
  // figures (kept by their own thread, stopped after the workers).
  ImageRankings image_rankings_;
  TrafficHistory traffic_history_;
  const std::chrono::steady_clock::time_point started_at_ = std::chrono::steady_clock::now();
  // What the upstreams answered, one observer per worker (set as its pool's); made at start.
  std::unique_ptr<UpstreamObservers> upstream_observers_;
};

} // namespace regcache::registry

#include "registry/daemon/server.h"

#include <fmt/format.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <future>
#include <optional>

#include "core/bounded_format.h"
#include "core/frame_pool.h"
#include "core/io_ops.h"
#include "core/listener.h"
#include "core/log_style.h"
#include "core/ring.h"
#include "core/socket_address.h"
#include "core/usable_cpus.h"
#include "core/wait_list.h"
#include "registry/serve/client_connection.h"
#include "registry/serve/request_handler.h"
#include "registry/serve/upstream_probe.h"
#include "registry/serve/worker_context.h"

namespace regcache::registry {

struct Server::Worker {
  unsigned index = 0;
  int listen_fd = -1;
  int metrics_listen_fd = -1; // --metrics-listen; -1: none
  std::thread thread;
  std::atomic<int> ring_fd{-1};
  core::Waiter stop_waiter; // armed by the worker before it reports ready
  std::atomic<bool> stop_sent{false};
  std::atomic<bool> done{false};
  std::promise<std::string> started;         // empty string: ready
  RequestCounters counters;                  // the worker's; read by request_totals()
  http::ProxyConnectCounters proxy_connects; // its pool's CONNECTs; read by metrics_text()
  // The watchdog's question to the worker: the main thread posts `op` to its ring and the
  // worker's loop answers by running on_heartbeat. `op` must stay the first member.
  struct Heartbeat {
    core::Operation op;
    std::atomic<uint64_t> asked{0};
    std::atomic<uint64_t> answered{0};
  } heartbeat;
};

namespace {

struct AcceptContext {
  WorkerContext *worker;
  bool ops_only = false; // the --metrics-listen listener
};

void on_accept(void *context, int fd, bool fds_exhausted) {
  auto *accept = static_cast<AcceptContext *>(context);
  WorkerContext &worker = *accept->worker;
  if (worker.stopping) {
    ::close(fd);
    return;
  }
  // At the cap the oldest idle keep-alive connection makes room. A connection that has not
  // sent its first request yet is not closed for a newcomer: its request may be on the way,
  // and closing it would fail that client without an answer where the newcomer gets a 503 it
  // can act on; it is closed at the header timeout if it never sends one.
  if (fds_exhausted) {
    worker.refusals.refuse(fd, RefusalReason::OutOfFds);
    return;
  }
  if (!ClientConnection::make_room(worker)) {
    worker.refusals.refuse(fd, RefusalReason::ConnectionCap);
    return;
  }
  int one = 1;
  // Response heads and small manifests are latency-bound; do not let Nagle hold them.
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (accept->ops_only)
    core::spawn(serve_ops_client(worker, fd));
  else
    core::spawn(serve_client(worker, fd));
}

// A burst is over when a worker's connections fall to a quarter of a peak of at least this many.
constexpr uint32_t kBurstConnectionsMin = 1024;

uint64_t resident_kib() {
  // Once per burst: /proc/self/statm's second field is the resident set in pages.
  unsigned long long pages = 0;
  if (std::FILE *file = std::fopen("/proc/self/statm", "r")) {
    unsigned long long size_pages = 0;
    if (std::fscanf(file, "%llu %llu", &size_pages, &pages) != 2)
      pages = 0;
    std::fclose(file);
  }
  return pages * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)) / 1024;
}

// After a burst, what its connections took goes back to the system: the frames and buffers the
// pools kept for reuse (the steady state that follows refills them as it needs), then the heap
// pages glibc keeps in its arenas after free(), which malloc_trim hands back (madvise). Once per
// burst, on the worker's thread between loop turns; it takes milliseconds.
void return_burst_memory(WorkerContext &worker) {
  if (worker.connection_peak < kBurstConnectionsMin ||
      worker.connection_count > worker.connection_peak / 4)
    return;
  uint32_t peak = worker.connection_peak;
  worker.connection_peak = worker.connection_count;
  uint64_t before_kib = resident_kib();
  core::frame_pool_release_kept();
  worker.connection_buffers.release_kept();
  ::malloc_trim(0);
  // Through the worker's own log (a ring write), not a blocking write(2) on its thread.
  std::array<char, 256> text;
  worker.log.append_message(core::format_bounded(text,
                                                 "worker {}: burst over ({} connections at the "
                                                 "peak, {} now): resident memory {} MiB -> {} MiB",
                                                 worker.refusals.worker_index(), peak,
                                                 worker.connection_count, before_kib / 1024,
                                                 resident_kib() / 1024));
}

core::Task<void> watch_for_stop(core::Waiter &stop_waiter, WorkerContext &worker,
                                core::Listener &listener, core::Listener *metrics_listener) {
  co_await stop_waiter;
  worker.stopping = true;
  listener.stop();
  if (metrics_listener != nullptr)
    metrics_listener->stop();
  for (ClientConnection *connection = worker.connections; connection != nullptr;
       connection = connection->next) {
    connection->stop_if_idle();
  }
}

} // namespace

Server::Server(Config config)
    : startup_config_(std::move(config)), tags_(store_, startup_config_.tags_in_memory_max) {}

Server::~Server() {
  request_stop();
  join();
}

bool Server::start(std::string *error) {
  // startup_config_ until generation 1 is built, then the generation's copy (the same values).
  const Config *config = &startup_config_;
  // --workers 0: one per CPU this process may run on (its affinity mask and cgroup quota), not
  // one per CPU of the machine.
  core::UsableCpus cpus;
  if (config->workers == 0)
    cpus = core::usable_cpus();
  unsigned count = config->workers == 0 ? cpus.usable : config->workers;
  // Before anything opens fds: every client connection is one, and the soft limit a process
  // starts with is often 1024 where the hard limit allows far more.
  fd_limit_ = core::raise_fd_limit();
  http::UpstreamSettings pool_defaults;
  ConnectionBudgetInputs budget_inputs;
  budget_inputs.fd_limit = fd_limit_.soft;
  budget_inputs.workers = count;
  budget_inputs.connections_max = config->connections_max;
  budget_inputs.upstream_active_max = config->upstream_active_max;
  budget_inputs.upstream_idle_max =
      std::min<uint64_t>(pool_defaults.idle_total_max, uint64_t{config->upstream_connections_max} *
                                                           pool_defaults.idle_endpoints_max);
  budget_inputs.fetches_max = config->fetches_max;
  budget_ = plan_connection_budget(budget_inputs);
  connections_per_client_.configure(config->connections_per_client_max,
                                    uint64_t{budget_.connections_max} * count);
  IndexLoadReport index_report;
  if (!store_.open(config->cache_dir, error, &index_report))
    return false;
  core::log_message(fmt::format("index: {}", describe_index_load(index_report)));
  store_.manifests_in_memory().configure(config->manifest_memory_bytes,
                                         kManifestMemoryEntryBytesDefault);
  core::log_message(fmt::format("tags: {} held in memory", tags_.preload()));
  evictor_ = std::make_unique<Evictor>(
      store_, fetches_, EvictorSettings{config->cache_max_size_bytes, config->min_free},
      &tags_.index());
  evictor_->start(index_report.rebuilt);
  // Downloads tell the evictor when the disk turned out short, and stream a blob that could
  // never stay (larger than the cache, or than the free space above the floor) uncached.
  fetches_.space().set_eviction_kick([evictor = evictor_.get()] { evictor->on_index_work(); });
  struct statvfs fs {};
  uint64_t fs_total_bytes = 0;
  if (::fstatvfs(store_.root_fd(), &fs) == 0)
    fs_total_bytes = static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize;
  fetches_.space().set_limits(config->cache_max_size_bytes,
                              config->min_free.bytes_of(fs_total_bytes));
  scrubber_ = std::make_unique<Scrubber>(store_, config->scrub_rate);
  scrubber_->start();
  // Generation 1: the TLS contexts, auth, htpasswd and TTL tiers, checked as a reload checks
  // them. After the evictor and scrubber have started, as the contexts were before reloads:
  // loading the system trust store takes a while, and the hit-path allocation test's counting
  // window is placed by this start-up's timing against the evictor's once-a-second round.
  upstream_observers_ = std::make_unique<UpstreamObservers>(count);
  std::vector<uint32_t> observed_slots = upstream_observers_->hosts().assign(startup_config_);
  std::shared_ptr<const ConfigGeneration> first = build_config_generation(
      std::move(startup_config_), 1, nullptr, std::move(observed_slots), error);
  if (!first)
    return false;
  generations_.publish(first);
  config = &first->config;
  if (!load_proxy_tls(*config, error))
    return false;

  core::SocketAddress address;
  if (!core::parse_socket_address(config->listen_address, address, error))
    return false;
  for (unsigned i = 0; i < count; ++i) {
    auto worker = std::make_unique<Worker>();
    worker->index = i;
    worker->listen_fd = core::listen_tcp(address, count > 1, 4096, error);
    if (worker->listen_fd < 0)
      return false;
    workers_.push_back(std::move(worker));
  }
  if (!listen_for_metrics(count, error))
    return false;
  for (auto &worker : workers_) {
    std::future<std::string> started = worker->started.get_future();
    worker->thread = std::thread([this, raw = worker.get()] { run_worker(*raw); });
    std::string worker_error = started.get();
    if (!worker_error.empty()) {
      *error = worker_error;
      return false;
    }
  }
  traffic_history_.start(store_, [this] { return request_totals(); });
  if (budget_.fd_limit_too_low) {
    core::log_message(
        fmt::format("warning: the fd limit ({}) leaves no room for client connections "
                    "beside the upstream bounds; {} per worker are allowed anyway: raise the hard "
                    "limit (ulimit -Hn, systemd LimitNOFILE=) or lower --upstream-active-max and "
                    "--fetches-max",
                    fd_limit_.soft, budget_.connections_max));
  } else if (budget_.limited_by_fds && config->connections_max != kConnectionsMaxFromFdLimit) {
    core::log_message(
        fmt::format("warning: --connections-max {} is more than the fd limit ({}) leaves "
                    "room for; using {}",
                    config->connections_max, fd_limit_.soft, budget_.connections_max));
  }
  std::string raised =
      fd_limit_.raised() ? fmt::format(" (raised from {})", fd_limit_.soft_before) : std::string();
  std::string per_client =
      config->connections_per_client_max == 0
          ? std::string()
          : fmt::format(", {} per client address", config->connections_per_client_max);
  std::string worker_reason;
  if (config->workers == 0) {
    worker_reason = fmt::format(": one per usable CPU, {} in the affinity mask", cpus.affinity);
    if (cpus.quota_cpus > 0)
      worker_reason +=
          fmt::format(", cgroup quota {:.2f} CPUs ({})", cpus.quota_cpus, cpus.quota_source);
  }
  core::log_message(fmt::format(
      "listening on {} ({} worker{}{}), upstream {}, cache {}, fd limit {}{} "
      "(hard {}), connections max {} per worker ({}){}",
      config->listen_address, count, count == 1 ? "" : "s", worker_reason,
      config->default_upstream().url.url(), config->cache_dir, fd_limit_.soft, raised,
      fd_limit_.hard, budget_.connections_max,
      budget_.limited_by_fds ? "sized from the fd limit" : "--connections-max", per_client));
  if (config->upstream_proxy.enabled()) {
    // display masks the password.
    const std::string &no_proxy = config->upstream_proxy.no_proxy.text();
    core::log_message(fmt::format("upstream proxy {}, no proxy for {}",
                                  config->upstream_proxy.display,
                                  no_proxy.empty() ? "none" : no_proxy));
  }
  return true;
}

bool Server::load_proxy_tls(const Config &config, std::string *error) {
  bool created = false;
  std::unique_ptr<tls::CertificateAuthority> ca =
      tls::CertificateAuthority::load_or_create(config.ca_dir, &created, error);
  if (ca == nullptr)
    return false;
  const std::string certificate_path = config.ca_dir + "/ca.crt";
  // The certificate's subject and end only: the key is never logged.
  core::log_message(created
                        ? fmt::format("proxy CA: created {}", certificate_path)
                        : fmt::format("proxy CA: {} ({})", certificate_path, ca->description()));
  proxy_ca_ = std::move(ca);
  leaf_certificates_ =
      std::make_unique<tls::LeafCertificates>(proxy_ca_, config.leaf_certificates_max);
  proxy_tls_ = tls::ServerContext::create(error);
  return proxy_tls_ != nullptr;
}

bool Server::listen_for_metrics(unsigned workers, std::string *error) {
  const std::string &listen = running()->config.metrics_listen_address;
  if (listen.empty())
    return true;
  core::SocketAddress address;
  if (!core::parse_socket_address(listen, address, error))
    return false;
  // One socket per worker with SO_REUSEPORT, as for the main port: a scrape is served by
  // whichever worker the kernel picks, and sums over all of them anyway.
  for (auto &worker : workers_) {
    worker->metrics_listen_fd = core::listen_tcp(address, workers > 1, 128, error);
    if (worker->metrics_listen_fd < 0) {
      *error = "--metrics-listen " + listen + ": " + *error;
      return false;
    }
  }
  core::log_message(fmt::format("metrics on {} (/metrics, /livez, /readyz)", listen));
  return true;
}

void Server::on_heartbeat(core::Operation &op, int32_t, uint32_t) {
  static_assert(offsetof(Worker::Heartbeat, op) == 0);
  auto &heartbeat = reinterpret_cast<Worker::Heartbeat &>(op);
  heartbeat.answered.store(heartbeat.asked.load(std::memory_order_acquire),
                           std::memory_order_release);
}

bool Server::worker_done(const Worker &worker) {
  return worker.done.load();
}

bool Server::workers_answered() const {
  for (const auto &worker : workers_) {
    if (worker->done.load())
      return false; // a worker that ended while the server should run is not well
    if (worker->heartbeat.answered.load(std::memory_order_acquire) !=
        worker->heartbeat.asked.load(std::memory_order_acquire))
      return false;
  }
  return true;
}

void Server::ask_workers() {
  for (auto &worker : workers_) {
    Worker::Heartbeat &heartbeat = worker->heartbeat;
    int fd = worker->ring_fd.load();
    // One question at a time: the operation is in a ring until it is answered.
    if (fd < 0 || worker->done.load() || worker->stop_sent.load() ||
        heartbeat.answered.load(std::memory_order_acquire) !=
            heartbeat.asked.load(std::memory_order_acquire))
      continue;
    heartbeat.op.kind = core::OpKind::Callback;
    heartbeat.op.on_cqe = &on_heartbeat;
    heartbeat.asked.fetch_add(1, std::memory_order_acq_rel);
    core::post_to_ring(fd, heartbeat.op);
  }
}

std::array<uint64_t, 3> Server::proxy_connect_totals() const {
  std::array<uint64_t, 3> totals{};
  for (const auto &worker : workers_) {
    totals[0] += worker->proxy_connects.ok.load(std::memory_order_relaxed);
    totals[1] += worker->proxy_connects.refused.load(std::memory_order_relaxed);
    totals[2] += worker->proxy_connects.failed.load(std::memory_order_relaxed);
  }
  return totals;
}

RequestTotals Server::request_totals() const {
  RequestTotals totals;
  for (const auto &worker : workers_)
    totals.add(worker->counters);
  return totals;
}

ServiceSummary Server::summary() const {
  ServiceSummary summary;
  summary.requests = request_totals();
  summary.downloads_running = fetches_.running();
  summary.cache_content_bytes = store_.index().content_bytes();
  summary.cache_blobs = store_.index().count();
  summary.cache_max_bytes = running()->config.cache_max_size_bytes;
  return summary;
}

void Server::request_stop() {
  for (auto &worker : workers_) {
    int fd = worker->ring_fd.load();
    if (fd < 0 || worker->done.load() || worker->stop_sent.exchange(true))
      continue;
    core::post_to_ring(fd, worker->stop_waiter.op);
  }
}

bool Server::finished() const {
  for (const auto &worker : workers_) {
    if (!worker->done.load())
      return false;
  }
  return true;
}

void Server::join() {
  for (auto &worker : workers_) {
    if (worker->thread.joinable())
      worker->thread.join();
  }
  traffic_history_.stop(); // after the workers: their last requests are counted
  if (scrubber_)
    scrubber_->stop();
  if (evictor_)
    evictor_->stop();
}

void Server::run_worker(Worker &worker) {
  core::Ring ring;
  std::string error;
  if (!ring.init(core::RingOptions{}, &error)) {
    worker.done = true;
    worker.started.set_value(error);
    return;
  }
  WorkerLimits limits;
  limits.worker_index = worker.index;
  limits.connections_max = budget_.connections_max;
  limits.pipes_max = budget_.pipes_max;
  limits.refusals_in_flight_max = kRefusalsInFlightMax;
  WorkerContext context(generations_, store_, fetches_, tags_, revalidations_, limits);
  context.upstreams.set_observer(&upstream_observers_->worker(worker.index));
  context.counters = &worker.counters;
  context.upstreams.set_proxy_counters(&worker.proxy_connects);
  context.service = this;
  context.image_rankings = &image_rankings_;
  context.proxy_ca = proxy_ca_.get();
  context.leaf_certificates = leaf_certificates_.get();
  context.proxy_tls = proxy_tls_.get();
  if (connections_per_client_.enabled())
    context.connections_per_client = &connections_per_client_;
  context.log.start();
  AcceptContext accept_context{&context};
  core::Listener listener(worker.listen_fd, &on_accept, &accept_context);
  listener.start();
  AcceptContext metrics_accept_context{&context, true};
  std::optional<core::Listener> metrics_listener;
  if (worker.metrics_listen_fd >= 0) {
    metrics_listener.emplace(worker.metrics_listen_fd, &on_accept, &metrics_accept_context);
    metrics_listener->start();
  }
  worker.stop_waiter.arm();
  core::spawn(watch_for_stop(worker.stop_waiter, context, listener,
                             metrics_listener ? &*metrics_listener : nullptr));
  // One worker probes the upstreams nothing has reached lately (registry/serve/upstream_probe.h).
  // Always started: a reload may turn the probe on or off (it skips its turns while off).
  if (worker.index == 0)
    core::spawn(probe_upstreams(context, *upstream_observers_));
  worker.ring_fd = ring.fd();
  worker.started.set_value(std::string());

  using Clock = std::chrono::steady_clock;
  while (!context.stopping) {
    ring.run_once();
    return_burst_memory(context);
  }
  // Stopping: let in-flight responses and downloads finish, within the grace period. The loop
  // wakes at least every 100 ms to look at the clock.
  const Clock::time_point grace_deadline =
      Clock::now() +
      std::chrono::milliseconds(context.current_generation()->config.shutdown_grace_ms);
  while ((context.connection_count > 0 || context.fetches_running > 0 ||
          context.refusals.in_flight() > 0 || !listener.stopped() ||
          (metrics_listener && !metrics_listener->stopped()) || context.upstream_probe_running) &&
         Clock::now() < grace_deadline) {
    ring.run_once(100);
  }
  // Tunnels are never idle between requests: past the grace they are cut, and given a moment to
  // close their sockets and write their log lines. Bounded: 50 turns of at most 10 ms.
  for (ClientConnection *connection = context.connections; connection != nullptr;
       connection = connection->next) {
    connection->cut_tunnel();
  }
  for (int turn = 0; turn < 50 && context.tunnels_open > 0; ++turn)
    ring.run_once(10);
  if (context.connection_count > 0 || context.fetches_running > 0) {
    core::log_message(
        fmt::format("worker {}: shutdown grace over with {} connections and {} downloads open",
                    worker.index, context.connection_count, context.fetches_running));
  }
  context.refusals.stop(); // the refusals not reported yet, before the log ends
  if (uint64_t dropped = context.log.dropped_lines(); dropped > 0) {
    core::log_message(fmt::format(
        "worker {}: {} log lines were dropped (the log could not keep up)", worker.index, dropped));
  }
  context.log.stop();
  // Bounded, and never an unbounded wait: the flusher may finish inside run_once's first step,
  // leaving nothing in flight to wake a wait without a timeout.
  for (int turn = 0; turn < 100 && !context.log.flushed(); ++turn)
    ring.run_once(10);
  context.upstreams.clear();
  worker.done = true;
  if (context.connection_count > 0 || context.fetches_running > 0 ||
      context.refusals.in_flight() > 0 || context.upstream_probe_running) {
    // Coroutines still suspended on this ring would outlive it; the process is ending anyway,
    // so leave without unwinding them.
    std::fflush(stderr);
    std::_Exit(0);
  }
}

} // namespace regcache::registry

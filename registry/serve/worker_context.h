#pragma once
// What one worker thread owns, and what it borrows from the server. Owned (one per worker,
// never touched by another thread): the upstream connection pool, the pipes, the connection
// buffers, the log buffer, the refusal reports, its view of the configuration generation (with
// the match scratches of the TTL classifiers), and the lists of its client connections.
// Borrowed (shared by all workers, each safe to use from any of them): the published
// configuration generations (immutable; registry/serve/config_generation.h), the blob store,
// the fetch table, the tag store, the revalidation flights and the per-client connection
// counts. A request reads the configuration through the generation its connection holds
// (ClientConnection::generation()), never through the worker's, which may be newer.
#include <cstdint>
#include <unordered_map>

#include "core/block_pool.h"
#include "core/log_sink.h"
#include "core/pipe_pool.h"
#include "core/ring.h"
#include "http/upstream_pool.h"
#include "registry/cache/single_flight.h"
#include "registry/serve/config_generation.h"
#include "registry/serve/connection_buffers.h"
#include "registry/serve/connection_refusals.h"
#include "registry/serve/request_counters.h"
#include "registry/upstream/upstream_choices.h"

namespace regcache::tls {
class CertificateAuthority;
class LeafCertificates;
class ServerContext;
} // namespace regcache::tls

namespace regcache::registry {

class BlobStore;
class FetchTable;
class TagStore;
class ClientConnection;
class ConnectionsPerClient;
class ServiceProbe;
class ImageRankings;

// What the server decided at start for every worker, from the settings and the fd limit
// (registry/daemon/connection_budget.h).
struct WorkerLimits {
  unsigned worker_index = 0;
  uint32_t connections_max = 0; // client connections this worker holds at most
  uint32_t pipes_max = 0;       // splice pipes this worker creates at most
  uint32_t refusals_in_flight_max = 0;
};

struct WorkerContext {
  WorkerContext(const ConfigPublisher &publisher, BlobStore &store_in, FetchTable &fetches_in,
                TagStore &tags_in, SingleFlight &revalidations_in, const WorkerLimits &limits)
      : generation(publisher), store(store_in), fetches(fetches_in), tags(tags_in),
        revalidations(revalidations_in), upstreams(generation.current()->upstream_settings()),
        pipes(limits.pipes_max, 1u << 20),
        connection_buffers(sizeof(ConnectionBuffers), kConnectionBuffersKeptMax), log(2),
        refusals(log, limits.worker_index, limits.connections_max,
                 generation.current()->config.connections_per_client_max,
                 limits.refusals_in_flight_max),
        connections_max(limits.connections_max) {}

  // At a request boundary: the newest published generation. When it changed, what this worker
  // built from the old one goes: the routing memo (upstream_choices drops it by number), the
  // pooled upstream connections (opened under the old TLS settings, perhaps to an upstream
  // that changed or left), and the pool's timeouts follow the new settings. One atomic load
  // when nothing changed: the hit path allocates nothing and takes no lock.
  const std::shared_ptr<const ConfigGeneration> &current_generation() {
    if (generation.refresh())
      upstreams.retune(generation.current()->upstream_settings());
    return generation.current();
  }

  // The worker's generation and its TTL match scratches (the freshness lifetime of a tag's
  // entry; the tiers match the name as the client gave it, as docker-registry-proxy's nginx
  // locations do).
  WorkerGeneration generation;
  BlobStore &store;
  FetchTable &fetches; // shared: one download per digest
  TagStore &tags;
  SingleFlight &revalidations; // shared: one upstream revalidation per expired tag entry
  // choose_upstream's answers, remembered for the newest generation
  // (registry/upstream/upstream_choices.h).
  UpstreamChoices upstream_choices;
  http::UpstreamPool upstreams;
  core::PipePool pipes;
  core::BlockPool connection_buffers; // ConnectionBuffers, lent to connections reading a request
  core::LogSink log;
  ConnectionRefusals refusals; // 503s at accept, logged once per interval
  // Owned by the server (it outlives this context, and the main thread reads it): written by
  // this worker only.
  RequestCounters *counters = nullptr;
  const ServiceProbe *service = nullptr; // the server, for /metrics and /readyz
  // Shared by the workers; null when --connections-per-client-max is 0.
  ConnectionsPerClient *connections_per_client = nullptr;
  // The server's most-pulled and largest images, for the status page; null: not counted.
  ImageRankings *image_rankings = nullptr;

  // Proxy mode, owned by the server and shared by the workers (each safe from any thread): the
  // CA (its PEM for /ca.crt), the leaf certificates it signs for intercepted hosts (get() is a
  // coroutine; minting runs off the worker), and the server side's TLS context for the
  // TlsStream that terminates a client's TLS. Null only in tests that build no server.
  const tls::CertificateAuthority *proxy_ca = nullptr;
  tls::LeafCertificates *leaf_certificates = nullptr;
  const tls::ServerContext *proxy_tls = nullptr;

  // The cap on client connections (the fd limit's or --connections-max, whichever is lower).
  const uint32_t connections_max;
  // Live client connections (intrusive list), so shutdown can wake the idle ones.
  ClientConnection *connections = nullptr;
  uint32_t connection_count = 0;
  uint32_t connection_peak = 0; // most connections at once since memory was last given back
  // Connections waiting between requests with nothing buffered, oldest first (intrusive list):
  // at the cap the oldest is closed, so a client with a request to make always gets in.
  ClientConnection *idle_oldest = nullptr;
  ClientConnection *idle_newest = nullptr;
  uint32_t idle_count = 0;
  // Closed to make room and not gone yet: they no longer count against the cap.
  uint32_t connections_closing = 0;
  uint32_t fetches_running = 0;
  uint32_t pushes_running = 0;       // relayed pushes (push_relay.h), at most config.pushes_max
  uint32_t tunnels_open = 0;         // CONNECT tunnels carrying bytes or connecting (--tunnels-max)
  uint32_t control_jobs_running = 0; // listings and purges on their threads (control_endpoints)
  // The upstream health probe runs on this worker (registry/serve/upstream_probe.h): a stopping
  // worker waits for it like for its downloads.
  bool upstream_probe_running = false;
  bool stopping = false;
};

} // namespace regcache::registry

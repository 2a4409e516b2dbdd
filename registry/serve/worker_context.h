#pragma once
// What one worker thread owns, and what it borrows from the server. Owned (one per worker,
// never touched by another thread): the upstream connection pool, the pipes, the connection
// buffers, the log buffer, the refusal reports, the match scratches of the TTL classifiers,
// and the lists of its client connections. Borrowed (shared by all workers, each safe to use
// from any of them): the configuration (immutable), the blob store, the fetch table, the tag
// store, upstream auth, the revalidation flights and the per-client connection counts.
#include <cstdint>
#include <unordered_map>

#include "core/block_pool.h"
#include "core/log_sink.h"
#include "core/pipe_pool.h"
#include "core/ring.h"
#include "http/upstream_pool.h"
#include "registry/cache/manifest_ttl_policy.h"
#include "registry/cache/single_flight.h"
#include "registry/config/config.h"
#include "registry/serve/connection_buffers.h"
#include "registry/serve/connection_refusals.h"
#include "registry/serve/request_counters.h"
#include "registry/upstream/upstream_choices.h"

namespace regcache::registry {

class BlobStore;
class FetchTable;
class TagStore;
class ClientConnection;
class UpstreamAuth;
class ClientAuth;
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
  WorkerContext(const Config &config_in, BlobStore &store_in, FetchTable &fetches_in,
                TagStore &tags_in, UpstreamAuth &auth_in, ClientAuth &client_auth_in,
                SingleFlight &revalidations_in, const ManifestTtlPolicy &ttl_policy,
                http::UpstreamSettings upstream_settings, const WorkerLimits &limits)
      : config(config_in), store(store_in), fetches(fetches_in), tags(tags_in), auth(auth_in),
        client_auth(client_auth_in), revalidations(revalidations_in),
        ttl_scratches(ttl_policy.make_scratches()), upstreams(upstream_settings),
        pipes(limits.pipes_max, 1u << 20),
        connection_buffers(sizeof(ConnectionBuffers), kConnectionBuffersKeptMax), log(2),
        refusals(log, limits.worker_index, limits.connections_max,
                 config_in.connections_per_client_max, limits.refusals_in_flight_max),
        connections_max(limits.connections_max) {}

  const Config &config;
  BlobStore &store;
  FetchTable &fetches; // shared: one download per digest
  TagStore &tags;
  UpstreamAuth &auth;
  ClientAuth &client_auth; // shared: regcache's own users and tokens
  // Some upstream admits only some clients: a stored blob is served after routing, not before.
  bool blob_hits_need_routing = false;
  SingleFlight &revalidations; // shared: one upstream revalidation per expired tag entry
  // The freshness lifetime of a tag's entry (0: revalidate on every request). The tiers match
  // the name as the client gave it, as docker-registry-proxy's nginx locations do.
  ManifestTtlPolicy::Scratches ttl_scratches;
  // TLS contexts of upstreams with their own CA file or verification setting (the server's).
  const UpstreamTlsContexts *upstream_tls = nullptr;
  // choose_upstream's answers, remembered (registry/upstream/upstream_choices.h).
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
  uint32_t control_jobs_running = 0; // listings and purges on their threads (control_endpoints)
  // The upstream health probe runs on this worker (registry/serve/upstream_probe.h): a stopping
  // worker waits for it like for its downloads.
  bool upstream_probe_running = false;
  bool stopping = false;
};

} // namespace regcache::registry

#pragma once
// What one worker thread owns, and what it borrows from the server. Owned (one per worker,
// never touched by another thread): the upstream connection pool, the pipes, the log buffer,
// the match scratches of the TTL classifiers, and the list of its client connections. Borrowed
// (shared by all workers, each safe to use from any of them): the configuration (immutable),
// the blob store, the fetch table, the tag store, upstream auth and the revalidation flights.
#include <cstdint>
#include <unordered_map>

#include "core/log_sink.h"
#include "core/pipe_pool.h"
#include "core/ring.h"
#include "http/upstream_pool.h"
#include "registry/cache/manifest_ttl_policy.h"
#include "registry/cache/single_flight.h"
#include "registry/config/config.h"

namespace regcache::registry {

class BlobStore;
class FetchTable;
class TagStore;
class ClientConnection;
class UpstreamAuth;
class ClientAuth;

struct WorkerContext {
  WorkerContext(const Config &config_in, BlobStore &store_in, FetchTable &fetches_in,
                TagStore &tags_in, UpstreamAuth &auth_in, ClientAuth &client_auth_in,
                SingleFlight &revalidations_in, const ManifestTtlPolicy &ttl_policy,
                http::UpstreamSettings upstream_settings)
      : config(config_in), store(store_in), fetches(fetches_in), tags(tags_in), auth(auth_in),
        client_auth(client_auth_in), revalidations(revalidations_in),
        ttl_scratches(ttl_policy.make_scratches()), upstreams(upstream_settings),
        pipes(config_in.connections_max, 1u << 20), log(2) {}

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
  const std::unordered_map<const UpstreamConfig *, const tls::ClientContext *> *upstream_tls =
      nullptr;
  http::UpstreamPool upstreams;
  core::PipePool pipes;
  core::LogSink log;

  // Live client connections (intrusive list), so shutdown can wake the idle ones.
  ClientConnection *connections = nullptr;
  uint32_t connection_count = 0;
  uint32_t fetches_running = 0;
  bool stopping = false;
};

} // namespace regcache::registry

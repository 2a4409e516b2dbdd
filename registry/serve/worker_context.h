#pragma once
// What one worker thread owns: its ring, its upstream connection pool, its pipes and log
// buffer, and the list of its client connections. Nothing here is shared with other workers;
// the store (and the fetches in it) is the only shared state.
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
class TagStore;
class ClientConnection;
class UpstreamAuth;

struct WorkerContext {
  WorkerContext(const Config &config_in, BlobStore &store_in, TagStore &tags_in,
                UpstreamAuth &auth_in, SingleFlight &revalidations_in,
                const ManifestTtlPolicy &ttl_policy, http::UpstreamSettings upstream_settings)
      : config(config_in), store(store_in), tags(tags_in), auth(auth_in),
        revalidations(revalidations_in), ttl(ttl_policy.make_scratches()),
        upstreams(upstream_settings), pipes(config_in.connections_max, 1u << 20), log(2) {}

  const Config &config;
  BlobStore &store;
  TagStore &tags;
  UpstreamAuth &auth;
  SingleFlight &revalidations; // shared: one upstream revalidation per expired tag entry
  ManifestTtlPolicy::Scratches ttl;
  // TLS contexts of upstreams with their own CA file or verification setting.
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

  // The freshness lifetime of a tag's entry (0: revalidate on every request). The tiers match
  // the name as the client gave it, as docker-registry-proxy's nginx locations do.
  uint64_t manifest_ttl_ms(const UpstreamConfig *upstream, std::string_view client_name,
                           std::string_view tag) {
    return ttl.ttl_ms(upstream, client_name, tag);
  }
};

} // namespace regcache::registry

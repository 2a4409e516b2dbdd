#include "registry/serve/config_generation.h"

#include <fmt/format.h>

#include <algorithm>

namespace regcache::registry {

http::UpstreamSettings ConfigGeneration::upstream_settings() const {
  http::UpstreamSettings settings;
  settings.connect_timeout_ms = config.upstream_connect_timeout_ms;
  settings.read_timeout_ms = config.upstream_read_timeout_ms;
  settings.min_bytes_per_s = config.upstream_min_bytes_per_s;
  settings.rate_window_ms = config.upstream_rate_window_ms;
  settings.idle_connections_max = config.upstream_connections_max;
  settings.idle_timeout_ms = config.upstream_idle_timeout_ms;
  settings.active_connections_max = config.upstream_active_max;
  settings.tls_context = tls_context.get();
  settings.proxy = upstream_proxy;
  return settings;
}

std::shared_ptr<const ConfigGeneration>
build_config_generation(Config config, uint64_t number, const ConfigGeneration *previous,
                        std::vector<uint32_t> observed_slots, std::string *error) {
  // Built in place and never moved: the auth, the TTL policy and the TLS map point into
  // generation->config.
  auto generation = std::make_shared<ConfigGeneration>(std::move(config), number);
  const Config &built = generation->config;
  tls::ClientContextOptions tls_options;
  tls_options.ca_file = built.upstream_ca_file;
  tls_options.verify_peer = !built.insecure_upstream;
  generation->tls_context = tls::ClientContext::create(tls_options, error);
  if (!generation->tls_context)
    return nullptr;
  for (const UpstreamConfig &upstream : built.upstreams) {
    generation->blob_hits_need_routing |= upstream.clients.kind != ClientPolicy::Kind::Any;
    if (upstream.ca_file.empty() && !upstream.insecure)
      continue;
    tls::ClientContextOptions own;
    own.ca_file = upstream.ca_file.empty() ? built.upstream_ca_file : upstream.ca_file;
    own.verify_peer = !upstream.insecure && !built.insecure_upstream;
    std::string context_error;
    auto context = tls::ClientContext::create(own, &context_error);
    if (!context) {
      *error = fmt::format("upstream {}: {}", upstream.host, context_error);
      return nullptr;
    }
    generation->upstream_tls[&upstream] = context.get();
    generation->upstream_tls_owned.push_back(std::move(context));
  }
  if (built.upstream_proxy.enabled())
    generation->upstream_proxy = std::make_shared<const http::ProxyConfig>(built.upstream_proxy);
  // A fresh token cache: a token fetched with credentials that have changed since must not
  // serve the new generation (the cache key names the upstream, not the password).
  generation->observed_slots = std::move(observed_slots);
  generation->auth = std::make_unique<UpstreamAuth>(built, generation->observed_slots);
  generation->client_auth = std::make_unique<ClientAuth>();
  if (previous != nullptr)
    generation->client_auth->keep_tokens_of(*previous->client_auth);
  if (!generation->client_auth->load(built.htpasswd_file, error))
    return nullptr;
  if (!built.proxy_users_file.empty()) {
    generation->proxy_auth = std::make_unique<ClientAuth>();
    if (!generation->proxy_auth->load(built.proxy_users_file, error, "--proxy-users"))
      return nullptr;
  }
  if (!generation->ttl_policy.compile(built, error))
    return nullptr;
  return generation;
}

void ConfigPublisher::publish(std::shared_ptr<const ConfigGeneration> generation) {
  const uint64_t number = generation->number;
  std::shared_ptr<const ConfigGeneration> replaced;
  {
    std::lock_guard lock(mutex_);
    replaced = std::exchange(current_, std::move(generation));
  }
  // After the pointer: a worker that sees the new number finds the new generation.
  number_.store(number, std::memory_order_release);
  // `replaced` is released here, outside the lock; whoever still holds it keeps it alive.
}

std::shared_ptr<const ConfigGeneration> ConfigPublisher::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

uint64_t WorkerGeneration::ttl_ms(const ConfigGeneration &generation,
                                  const UpstreamConfig *upstream, std::string_view name,
                                  std::string_view reference) {
  if (&generation == current_.get())
    return ttl_scratches_.ttl_ms(upstream, name, reference);
  ManifestTtlPolicy::Scratches own = generation.ttl_policy.make_scratches();
  return own.ttl_ms(upstream, name, reference);
}

void WorkerGeneration::adopt(std::shared_ptr<const ConfigGeneration> generation) {
  ttl_scratches_ = generation->ttl_policy.make_scratches();
  current_ = std::move(generation);
}

} // namespace regcache::registry

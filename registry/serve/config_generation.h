#pragma once
// A configuration generation: one Config and everything built from it (the upstream TLS
// contexts, upstream auth with its token cache, client auth, the TTL policy), immutable once
// published and shared by reference count. The main thread builds a new one on SIGHUP and
// publishes it; each worker picks it up at a request boundary, and every request and download
// holds the generation it started with until it ends, so a reload never changes anything under
// a transfer in progress and an old generation is freed when its last holder is done.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "http/upstream_pool.h"
#include "registry/auth/client_auth.h"
#include "registry/auth/upstream_auth.h"
#include "registry/cache/manifest_ttl_policy.h"
#include "registry/config/config.h"
#include "registry/upstream/upstream_choices.h"
#include "tls/tls_context.h"

namespace regcache::registry {

struct ConfigGeneration {
  ConfigGeneration(Config config_in, uint64_t number_in)
      : number(number_in), config(std::move(config_in)) {}
  ConfigGeneration(const ConfigGeneration &) = delete;
  ConfigGeneration &operator=(const ConfigGeneration &) = delete;

  // The upstream pool settings this configuration asks for (timeouts, the rate floor, the pool
  // sizes, the default TLS context).
  http::UpstreamSettings upstream_settings() const;

  const uint64_t number; // 1 at start, one more per accepted reload
  const Config config;
  // The default upstream's context (--upstream-ca-file, --insecure-upstream), and the contexts
  // of upstreams with their own CA file or verification setting.
  std::unique_ptr<tls::ClientContext> tls_context;
  std::vector<std::unique_ptr<tls::ClientContext>> upstream_tls_owned;
  UpstreamTlsContexts upstream_tls;
  // config.upstream_proxy, shared with the workers' pools (null: no proxy): a connect in
  // progress through it keeps it alive past a reload.
  std::shared_ptr<const http::ProxyConfig> upstream_proxy;
  // Shared state of their own (token caches, remembered password checks), each thread-safe:
  // held by pointer so a const generation still lends them out.
  std::unique_ptr<UpstreamAuth> auth;
  std::unique_ptr<ClientAuth> client_auth;
  // The proxy's users (--proxy-users), checked like client_auth's; null when not set.
  std::unique_ptr<ClientAuth> proxy_auth;
  ManifestTtlPolicy ttl_policy;
  // Some upstream admits only some clients: a stored blob is served after routing, not before.
  bool blob_hits_need_routing = false;
  // The metrics slot of each of config.upstreams, by index (registry/upstream/
  // upstream_observer.h): kept by host across reloads, so counters never move between hosts.
  std::vector<uint32_t> observed_slots;
};

// Builds generation `number` from `config` and checks everything start-up would: the CA files
// and TLS settings, the htpasswd file, the TTL tiers. Null with `error` set (one line, no
// secret) when something is wrong. `previous` (null at start) passes on what must survive a
// reload: the key of the tokens regcache gave its clients, so they stay valid. `observed_slots`
// are the upstreams' metrics slots (ObservedHosts::assign on this config).
std::shared_ptr<const ConfigGeneration>
build_config_generation(Config config, uint64_t number, const ConfigGeneration *previous,
                        std::vector<uint32_t> observed_slots, std::string *error);

// Where the main thread publishes generations and workers look for them. The number is read
// on every request boundary (one atomic load); the pointer, behind a mutex, only when the
// number changed.
class ConfigPublisher {
public:
  void publish(std::shared_ptr<const ConfigGeneration> generation);
  uint64_t number() const { return number_.load(std::memory_order_acquire); }
  std::shared_ptr<const ConfigGeneration> current() const;

private:
  mutable std::mutex mutex_;
  std::shared_ptr<const ConfigGeneration> current_; // guarded by mutex_
  std::atomic<uint64_t> number_{0};
};

// One worker's view of the published generation, with what the worker keeps per generation
// (the match scratches of the TTL classifiers). Not thread-safe: one per worker.
class WorkerGeneration {
public:
  explicit WorkerGeneration(const ConfigPublisher &publisher)
      : publisher_(publisher), current_(publisher.current()),
        ttl_scratches_(current_->ttl_policy.make_scratches()) {}

  // At a request boundary: takes the published generation if it is newer. True when it
  // changed (the caller retunes what it built from the old one).
  bool refresh() {
    if (publisher_.number() == current_->number)
      return false;
    adopt(publisher_.current());
    return true;
  }
  const std::shared_ptr<const ConfigGeneration> &current() const { return current_; }

  // The TTL of a tag under `generation`'s policy. A request that began before the worker took
  // a newer generation still gets its own generation's answer, from scratches made for it (an
  // allocation, once per such request).
  uint64_t ttl_ms(const ConfigGeneration &generation, const UpstreamConfig *upstream,
                  std::string_view name, std::string_view reference);

private:
  void adopt(std::shared_ptr<const ConfigGeneration> generation);

  const ConfigPublisher &publisher_;
  std::shared_ptr<const ConfigGeneration> current_;
  ManifestTtlPolicy::Scratches ttl_scratches_; // for current_'s policy
};

} // namespace regcache::registry

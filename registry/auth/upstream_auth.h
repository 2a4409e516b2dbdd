#pragma once
// Authentication to upstreams, on behalf of clients that have none: the bearer-token flow
// (anonymous or with basic credentials at the token realm), plain Basic, and Azure Container
// Registry's Entra ID exchange. What the upstream asked for the last time is remembered per
// upstream, so after the first 401 requests go out with the right credentials at once (for at
// most kRememberedChallengesMax upstreams: ?ns= lets clients name any host).
#include <mutex>
#include <span>
#include <string>

#include "core/lru_map.h"
#include "core/task.h"
#include "http/upstream_exchange.h"
#include "http/upstream_pool.h"
#include "registry/auth/token_cache.h"
#include "registry/upstream/small_fetch.h"
#include "registry/upstream/upstream_router.h"

namespace regcache::registry {

class UpstreamAuth {
public:
  // Upstreams (authorities) whose challenge is remembered; the least recently used is
  // forgotten first, and costs one 401 round trip when it comes back.
  static constexpr size_t kRememberedChallengesMax = 4096;

  // `observed_slots`: the metrics slot of each of config.upstreams (upstream_observer.h); both
  // outlive this object (they belong to the same configuration generation).
  UpstreamAuth(const Config &config, std::span<const uint32_t> observed_slots)
      : config_(config), observed_slots_(observed_slots), tokens_(config.token_cache_entries_max),
        challenges_(kRememberedChallengesMax) {}
  UpstreamAuth(const UpstreamAuth &) = delete;
  UpstreamAuth &operator=(const UpstreamAuth &) = delete;

  // Starts `request` on `exchange` with whatever credentials the upstream wants: on a 401 with
  // a Bearer or Basic challenge it gets a token (or uses basic credentials) and retries once.
  // Token requests go through `pool`, the calling worker's. The result is the final answer's:
  // 0 with exchange.fields() set (which may still be a 401 when the upstream refuses), or
  // -errno with `error` set.
  core::Task<int> start(http::UpstreamPool &pool, http::UpstreamExchange &exchange,
                        const UpstreamChoice &upstream, const http::UpstreamRequest &request,
                        std::string *error);

  TokenCache &tokens() { return tokens_; }

private:
  enum class Scheme : uint8_t { Unknown, Anonymous, Bearer, Basic };
  struct KnownChallenge {
    Scheme scheme = Scheme::Unknown;
    std::string realm;
    std::string service;
  };
  KnownChallenge known_challenge(const std::string &upstream_key);
  void remember_challenge(const std::string &upstream_key, KnownChallenge challenge);

  // The Authorization header value for `upstream` given what it asked for; empty when none.
  core::Task<int> authorization(http::UpstreamPool &pool, const UpstreamChoice &upstream,
                                const KnownChallenge &challenge, const std::string &scope,
                                std::string &header_value, std::string &token_key,
                                std::string *error);
  core::Task<int> fetch_registry_token(http::UpstreamPool &pool, const UpstreamChoice &upstream,
                                       const KnownChallenge &challenge, const std::string &scope,
                                       std::string &token, uint32_t &lifetime_s,
                                       std::string *error);

  const Config &config_;
  std::span<const uint32_t> observed_slots_;
  TokenCache tokens_;
  std::mutex challenges_mutex_;
  core::LruMap<KnownChallenge> challenges_;
};

// Whether the token server `realm` may receive `upstream`'s credentials: over TLS (or both
// plain, for an upstream configured as http://), and on the registry's own domain, Docker Hub's
// auth.docker.io for Docker Hub, or a host in the upstream's configured auth_hosts.
bool realm_receives_credentials(const UpstreamChoice &upstream, const http::Endpoint &realm);

// A small registry request (a manifest, a HEAD) with the credentials the upstream asks for.
core::Task<void> fetch_small_authorized(http::UpstreamPool &pool, UpstreamAuth &auth,
                                        const UpstreamChoice &upstream, std::string_view method,
                                        std::string_view target,
                                        std::span<const http::Header> headers,
                                        uint64_t body_bytes_max, SmallResponse &out);

} // namespace regcache::registry

#include "registry/auth/upstream_auth.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "http/message_head.h"
#include "http/www_authenticate.h"
#include "registry/api/base64.h"
#include "registry/auth/acr_tokens.h"
#include "registry/auth/auth_scope.h"
#include "registry/auth/form_encoding.h"
#include "registry/auth/token_response.h"
#include "registry/config/credentials.h"
#include "registry/upstream/upstream_observer.h"

namespace regcache::registry {
namespace {

constexpr size_t kRequestHeadersMax = 12;
constexpr uint64_t kTokenBodyBytesMax = 256 * 1024;

std::string basic_authorization(const HostCredentials &credentials) {
  return "Basic " + base64_encode(credentials.username + ":" + credentials.password);
}

// Credentials for the registry itself: under the host requests go to, or under the host the
// upstream is configured as (an upstream entry `host: ghcr.io` whose url points elsewhere).
const HostCredentials *registry_credentials(const Config &config, const UpstreamChoice &upstream) {
  const HostCredentials *credentials =
      find_credentials(config.credentials, upstream.endpoint.authority);
  if (credentials == nullptr && upstream.config != nullptr) {
    credentials = find_credentials(config.credentials, upstream.config->host);
  }
  return credentials;
}

// `inner` is `outer` or a subdomain of it, `outer` having at least two labels ("gitlab.com"
// for "registry.gitlab.com"; never "com").
bool within_domain(std::string_view inner, std::string_view outer) {
  if (http::iequals(inner, outer))
    return true;
  if (outer.find('.') == std::string_view::npos || outer.front() == '[' ||
      inner.size() <= outer.size() + 1)
    return false;
  return inner[inner.size() - outer.size() - 1] == '.' &&
         http::iequals(inner.substr(inner.size() - outer.size()), outer);
}

} // namespace

bool realm_receives_credentials(const UpstreamChoice &upstream, const http::Endpoint &realm) {
  // Never in clear text, unless the operator configured the upstream itself as http:// (a test
  // or an air-gapped registry; the start-up warns about it).
  if (!realm.tls && upstream.endpoint.tls)
    return false;
  const std::string_view realm_host = realm.host;
  const std::string_view registry_host = upstream.endpoint.host;
  // Docker Hub's token server is another domain.
  if (registry_host == kDockerHubUrl.host && realm_host == kDockerHubCredentialsHost)
    return true;
  if (upstream.config != nullptr) {
    for (const std::string &allowed : upstream.config->auth_hosts) {
      if (allowed == realm.authority || allowed == realm.host)
        return true;
    }
    if (within_domain(realm_host, host_without_port(upstream.config->host)) ||
        within_domain(host_without_port(upstream.config->host), realm_host))
      return true;
  }
  // The registry's own domain: the same host (any port), a parent domain of it
  // (registry.gitlab.com -> gitlab.com) or a subdomain of it.
  return within_domain(realm_host, registry_host) || within_domain(registry_host, realm_host);
}

namespace {

bool is_acr(const UpstreamChoice &upstream) {
  return upstream.config != nullptr && upstream.config->kind == UpstreamKind::Acr;
}

} // namespace

UpstreamAuth::KnownChallenge UpstreamAuth::known_challenge(const std::string &upstream_key) {
  std::lock_guard lock(challenges_mutex_);
  const KnownChallenge *known = challenges_.find(upstream_key);
  return known == nullptr ? KnownChallenge{} : *known;
}

void UpstreamAuth::remember_challenge(const std::string &upstream_key, KnownChallenge challenge) {
  std::lock_guard lock(challenges_mutex_);
  auto never = [](const KnownChallenge &) { return false; }; // neither pinned nor expired
  challenges_.find_or_insert(upstream_key, never, never) = std::move(challenge);
}

core::Task<int> UpstreamAuth::fetch_registry_token(http::UpstreamPool &pool,
                                                   const UpstreamChoice &upstream,
                                                   const KnownChallenge &challenge,
                                                   const std::string &scope, std::string &token,
                                                   uint32_t &lifetime_s, std::string *error) {
  http::Endpoint realm;
  std::string target;
  if (!http::parse_absolute_url(challenge.realm, realm, target)) {
    *error = "the upstream's token realm is not an http(s) URL";
    co_return -EPROTO;
  }
  // Docker token spec: GET <realm>?service=<service>&scope=<scope>, with basic credentials when
  // some are configured for the realm's host (auth.docker.io) or the registry's own host, and
  // only when the realm belongs to this upstream: a registry must not be able to point
  // regcache's credentials at another registry's token server (review S1).
  target += target.find('?') == std::string::npos ? '?' : '&';
  if (!challenge.service.empty())
    target += "service=" + url_query_escape(challenge.service) + "&";
  target += "scope=" + url_query_escape(scope);
  const HostCredentials *credentials = nullptr;
  if (realm_receives_credentials(upstream, realm)) {
    credentials = find_credentials(config_.credentials, realm.authority);
    if (credentials == nullptr)
      credentials = registry_credentials(config_, upstream);
  }
  // A token server a client's registry named is as untrusted as the registry itself.
  realm.public_only = realm.public_only || upstream.endpoint.public_only;
  std::array<http::Header, 1> headers;
  size_t header_count = 0;
  std::string authorization;
  if (credentials != nullptr) {
    authorization = basic_authorization(*credentials);
    headers[header_count++] = http::Header{"Authorization", authorization};
  }
  SmallResponse answer;
  std::span<const http::Header> header_span(headers.data(), header_count);
  const http::UpstreamRequest request{
      "GET", target, header_span,
      {},    {},     observed_as(config_, observed_slots_, upstream, ObservedAs::Token)};
  co_await fetch_small(pool, realm, request, kTokenBodyBytesMax, answer);
  if (answer.rc < 0) {
    *error = "token server: " + answer.error;
    co_return answer.rc;
  }
  if (answer.fields.status != 200) {
    *error = fmt::format("token server {} answered {}", realm.authority, answer.fields.status);
    co_return answer.fields.status == 401 || answer.fields.status == 403 ? -EACCES : -EPROTO;
  }
  TokenResponse parsed;
  std::string parse_error;
  if (!parse_token_response(answer.body, parsed, &parse_error)) {
    *error = "token server answer: " + parse_error;
    co_return -EPROTO;
  }
  token = std::move(parsed.token);
  lifetime_s = parsed.expires_in_s;
  co_return 0;
}

core::Task<int> UpstreamAuth::authorization(http::UpstreamPool &pool,
                                            const UpstreamChoice &upstream,
                                            const KnownChallenge &challenge,
                                            const std::string &scope, std::string &header_value,
                                            std::string &token_key, std::string *error) {
  header_value.clear();
  token_key.clear();
  switch (challenge.scheme) {
  case Scheme::Unknown:
  case Scheme::Anonymous:
    co_return 0;
  case Scheme::Basic: {
    const HostCredentials *credentials = registry_credentials(config_, upstream);
    if (credentials != nullptr)
      header_value = basic_authorization(*credentials);
    co_return 0;
  }
  case Scheme::Bearer:
    break;
  }
  const HostCredentials *credentials = registry_credentials(config_, upstream);
  std::string credential_id = is_acr(upstream)         ? "acr"
                              : credentials != nullptr ? credentials->username
                                                       : "-";
  token_key = token_cache_key(upstream.endpoint.authority, scope, credential_id);
  TokenCache::Lookup lookup = co_await tokens_.acquire(token_key);
  switch (lookup.kind) {
  case TokenCache::Lookup::Kind::Hit:
    header_value = "Bearer " + lookup.token;
    co_return 0;
  case TokenCache::Lookup::Kind::Failed:
    *error = lookup.error;
    co_return lookup.failure_errno;
  case TokenCache::Lookup::Kind::Fetch:
    break;
  }
  std::string token;
  uint32_t lifetime_s = 60;
  int rc = 0;
  if (is_acr(upstream)) {
    rc = co_await acr_access_token(
        pool, tokens_, upstream, challenge.realm, scope, token, lifetime_s,
        observed_as(config_, observed_slots_, upstream, ObservedAs::Token), error);
  } else {
    rc = co_await fetch_registry_token(pool, upstream, challenge, scope, token, lifetime_s, error);
  }
  if (rc < 0) {
    tokens_.fail(token_key, *error, rc == -EBUSY ? -EBUSY : -EACCES);
    co_return rc;
  }
  header_value = "Bearer " + token;
  tokens_.complete(token_key, std::move(token), lifetime_s);
  co_return 0;
}

core::Task<int> UpstreamAuth::start(http::UpstreamPool &pool, http::UpstreamExchange &exchange,
                                    const UpstreamChoice &upstream,
                                    const http::UpstreamRequest &request, std::string *error) {
  const std::string &upstream_key = upstream.endpoint.authority;
  std::string scope = repository_pull_scope(upstream.name);
  std::array<http::Header, kRequestHeadersMax> headers;
  size_t base_count = std::min(request.headers.size(), headers.size() - 1);
  std::copy_n(request.headers.begin(), base_count, headers.begin());

  KnownChallenge challenge = known_challenge(upstream_key);
  std::string authorization;
  std::string token_key;
  for (int attempt = 0; attempt < 2; ++attempt) {
    int rc = co_await this->authorization(pool, upstream, challenge, scope, authorization,
                                          token_key, error);
    if (rc < 0)
      co_return rc;
    size_t count = base_count;
    if (!authorization.empty())
      headers[count++] = http::Header{"Authorization", authorization};
    http::UpstreamRequest authorized = request;
    authorized.headers = std::span<const http::Header>(headers.data(), count);
    if (authorized.observed_as == 0) // every registry request is counted for its upstream
      authorized.observed_as =
          observed_as(config_, observed_slots_, upstream, ObservedAs::Registry);
    rc = co_await exchange.start(upstream.endpoint, authorized, error);
    if (rc < 0 || exchange.fields().status != 401) {
      if (rc == 0 && challenge.scheme == Scheme::Unknown) {
        remember_challenge(upstream_key, KnownChallenge{Scheme::Anonymous, {}, {}});
      }
      co_return rc;
    }
    // 401: learn what the upstream wants, then retry once.
    if (!token_key.empty() && !authorization.empty())
      tokens_.invalidate(token_key, authorization.substr(7));
    std::vector<http::Challenge> challenges;
    std::string parse_error;
    KnownChallenge learned;
    if (http::parse_www_authenticate(exchange.fields().www_authenticate, challenges,
                                     &parse_error)) {
      if (auto bearer = http::find_bearer(challenges)) {
        learned = KnownChallenge{Scheme::Bearer, bearer->realm, bearer->service};
        // The scope stays ours, repository:<name>:pull, whatever the challenge asks for: a
        // pull-through cache never mints push tokens or tokens for other repositories with
        // the operator's credentials.
      } else if (http::has_basic(challenges)) {
        learned = KnownChallenge{Scheme::Basic, {}, {}};
      }
    }
    if (learned.scheme == Scheme::Unknown || attempt == 1)
      co_return 0; // the client sees the 401
    if (learned.scheme == Scheme::Basic && registry_credentials(config_, upstream) == nullptr) {
      co_return 0; // nothing to answer a Basic challenge with
    }
    bool drained = co_await exchange.drain_body(http::kDrainBytesMax);
    (void)drained; // a body we cannot drain just costs the connection
    remember_challenge(upstream_key, learned);
    challenge = learned;
  }
  co_return 0;
}

core::Task<void> fetch_small_authorized(http::UpstreamPool &pool, UpstreamAuth &auth,
                                        const UpstreamChoice &upstream, std::string_view method,
                                        std::string_view target,
                                        std::span<const http::Header> headers,
                                        uint64_t body_bytes_max, SmallResponse &out) {
  http::UpstreamExchange exchange(pool);
  const http::UpstreamRequest request{method, target, headers};
  out.rc = co_await auth.start(pool, exchange, upstream, request, &out.error);
  if (out.rc < 0)
    co_return;
  co_await read_small_answer(exchange, upstream.endpoint, body_bytes_max, out);
}

} // namespace regcache::registry

#include "registry/auth/acr_tokens.h"

#include <fcntl.h>
#include <fmt/format.h>

#include <array>
#include <chrono>
#include <utility>

#include "core/io_ops.h"
#include "core/unix_time.h"
#include "registry/auth/form_encoding.h"
#include "registry/auth/jwt_claims.h"
#include "registry/auth/token_response.h"
#include "registry/upstream/small_fetch.h"

namespace regcache::registry {
namespace {

constexpr uint64_t kAnswerBytesMax = 256 * 1024;
constexpr uint32_t kFallbackLifetimeS = 300;
constexpr std::string_view kFormType = "application/x-www-form-urlencoded";

// Seconds a JWT has left, from its exp claim; the fallback when it has none we can read.
uint32_t jwt_lifetime_s(std::string_view jwt, uint32_t fallback_s) {
  std::optional<int64_t> expiry = jwt_expiry_unix_s(jwt);
  if (!expiry)
    return fallback_s;
  int64_t left = *expiry - core::unix_now_s();
  return left <= 0 ? 0 : static_cast<uint32_t>(std::min<int64_t>(left, 24 * 3600));
}

struct Url {
  http::Endpoint endpoint;
  std::string target;
};

bool parse_url(const std::string &text, Url &out) {
  return http::parse_absolute_url(text, out.endpoint, out.target);
}

// POSTs a form and returns the answer (status checked by the caller); an answer larger than
// any token response is an error.
core::Task<void> post_form(http::UpstreamPool &pool, const Url &url, const std::string &form,
                           uint32_t observed_as, SmallResponse &answer) {
  const http::UpstreamRequest request{"POST", url.target, {}, form, kFormType, observed_as};
  co_await fetch_small(pool, url.endpoint, request, kAnswerBytesMax, answer);
  if (answer.rc == 0 && answer.too_large) {
    answer.rc = -E2BIG;
    answer.error = "the answer is larger than any token response";
  }
}

core::Task<int> read_token_file(const std::string &path, std::string &token, std::string *error) {
  int fd = co_await core::openat(AT_FDCWD, path.c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) {
    *error = fmt::format("cannot open the Entra ID token file {}: {}", path, strerror(-fd));
    co_return fd;
  }
  std::array<char, 16 * 1024> text;
  int32_t got = co_await core::read(fd, text, 0);
  co_await core::close(fd);
  if (got <= 0) {
    *error = fmt::format("the Entra ID token file {} is empty", path);
    co_return -EINVAL;
  }
  std::string_view view(text.data(), static_cast<size_t>(got));
  while (!view.empty() && (view.back() == '\n' || view.back() == '\r' || view.back() == ' '))
    view.remove_suffix(1);
  token.assign(view);
  co_return 0;
}

// Step 1: an Entra ID access token for the ARM audience.
core::Task<int> entra_token(http::UpstreamPool &pool, const AcrSettings &acr, std::string &token,
                            uint32_t &lifetime_s, uint32_t observed_as, std::string *error) {
  if (!acr.token_file.empty()) {
    int rc = co_await read_token_file(acr.token_file, token, error);
    lifetime_s = jwt_lifetime_s(token, kFallbackLifetimeS);
    co_return rc;
  }
  SmallResponse answer;
  if (!acr.client_secret.empty()) {
    // Service principal: OAuth 2.0 client credentials at the tenant's token endpoint.
    Url url;
    if (!parse_url(fmt::format("{}/{}/oauth2/v2.0/token", acr.authority_url, acr.tenant_id), url)) {
      *error = "the Entra ID authority URL is not an http(s) URL";
      co_return -EINVAL;
    }
    std::string scope = acr.resource + "/.default";
    std::array<std::pair<std::string_view, std::string_view>, 4> fields{
        {{"grant_type", "client_credentials"},
         {"client_id", acr.client_id},
         {"client_secret", acr.client_secret},
         {"scope", scope}}};
    std::string form = form_urlencode(fields);
    co_await post_form(pool, url, form, observed_as, answer);
  } else {
    // Managed identity through the instance metadata endpoint; AZURE_CLIENT_ID picks a
    // user-assigned identity.
    std::string target_url = fmt::format("{}?api-version=2018-02-01&resource={}", acr.imds_url,
                                         url_query_escape(acr.resource));
    if (!acr.client_id.empty())
      target_url += "&client_id=" + url_query_escape(acr.client_id);
    Url url;
    if (!parse_url(target_url, url)) {
      *error = "the instance metadata URL is not an http URL";
      co_return -EINVAL;
    }
    static constexpr http::Header kMetadata{"Metadata", "true"};
    const http::UpstreamRequest request{
        "GET", url.target, std::span<const http::Header>(&kMetadata, 1), {}, {}, observed_as};
    co_await fetch_small(pool, url.endpoint, request, kAnswerBytesMax, answer);
  }
  if (answer.rc < 0) {
    *error = "Entra ID token endpoint: " + answer.error;
    co_return answer.rc;
  }
  if (answer.fields.status != 200) {
    *error = fmt::format("Entra ID token endpoint answered {}", answer.fields.status);
    co_return -EACCES;
  }
  int64_t expires_on = 0;
  std::string parse_error;
  if (!parse_entra_token_response(answer.body, core::unix_now_s(), token, expires_on,
                                  &parse_error)) {
    *error = "Entra ID token answer: " + parse_error;
    co_return -EPROTO;
  }
  int64_t left = expires_on - core::unix_now_s();
  lifetime_s = left <= 0 ? 0 : static_cast<uint32_t>(std::min<int64_t>(left, 24 * 3600));
  co_return 0;
}

std::string registry_url(const UpstreamChoice &upstream, const std::string &override_url,
                         std::string_view path) {
  if (!override_url.empty())
    return override_url;
  return fmt::format("{}://{}{}", upstream.endpoint.tls ? "https" : "http",
                     upstream.endpoint.authority, path);
}

// The token cache key of a registry's refresh token: one per registry and identity.
std::string refresh_token_key(const UpstreamChoice &upstream) {
  return "acr-refresh|" + upstream.endpoint.authority + "|" + upstream.config->acr.client_id;
}

// Step 2: the ACR refresh token for this registry (cached, single flight).
core::Task<int> acr_refresh_token(http::UpstreamPool &pool, TokenCache &tokens,
                                  const UpstreamChoice &upstream, std::string &refresh_token,
                                  uint32_t observed_as, std::string *error) {
  const AcrSettings &acr = upstream.config->acr;
  std::string key = refresh_token_key(upstream);
  TokenCache::Lookup lookup = co_await tokens.acquire(key);
  if (lookup.kind == TokenCache::Lookup::Kind::Hit) {
    refresh_token = std::move(lookup.token);
    co_return 0;
  }
  if (lookup.kind == TokenCache::Lookup::Kind::Failed) {
    *error = lookup.error;
    co_return lookup.failure_errno;
  }
  std::string entra;
  uint32_t entra_lifetime_s = 0;
  int rc = co_await entra_token(pool, acr, entra, entra_lifetime_s, observed_as, error);
  if (rc < 0) {
    tokens.fail(key, *error, rc == -EBUSY ? -EBUSY : -EACCES);
    co_return rc;
  }
  Url url;
  if (!parse_url(registry_url(upstream, acr.exchange_url, "/oauth2/exchange"), url)) {
    *error = "the ACR exchange URL is not an http(s) URL";
    tokens.fail(key, *error);
    co_return -EINVAL;
  }
  std::string service = upstream.endpoint.host;
  // `tenant` is optional in the exchange (Azure/acr AAD-OAuth.md); sent when configured.
  std::array<std::pair<std::string_view, std::string_view>, 4> fields{
      {{"grant_type", "access_token"},
       {"service", service},
       {"access_token", entra},
       {"tenant", acr.tenant_id}}};
  size_t field_count = acr.tenant_id.empty() ? 3 : 4;
  std::string form = form_urlencode(std::span(fields.data(), field_count));
  SmallResponse answer;
  co_await post_form(pool, url, form, observed_as, answer);
  if (answer.rc < 0 || answer.fields.status != 200) {
    *error = answer.rc < 0 ? "ACR exchange: " + answer.error
                           : fmt::format("ACR /oauth2/exchange answered {}", answer.fields.status);
    const int failure = answer.rc == -EBUSY ? -EBUSY : -EACCES; // capacity says nothing of us
    tokens.fail(key, *error, failure);
    co_return failure;
  }
  std::string parse_error;
  if (!parse_acr_refresh_token_response(answer.body, refresh_token, &parse_error)) {
    *error = "ACR exchange answer: " + parse_error;
    tokens.fail(key, *error);
    co_return -EPROTO;
  }
  // ACR refresh tokens live about 3 hours; the JWT says exactly.
  tokens.complete(key, refresh_token, jwt_lifetime_s(refresh_token, 3 * 3600));
  co_return 0;
}

} // namespace

core::Task<int> acr_access_token(http::UpstreamPool &pool, TokenCache &tokens,
                                 const UpstreamChoice &upstream, const std::string &challenge_realm,
                                 const std::string &scope, std::string &token, uint32_t &lifetime_s,
                                 uint32_t observed_as, std::string *error) {
  std::string refresh_token;
  int rc = co_await acr_refresh_token(pool, tokens, upstream, refresh_token, observed_as, error);
  if (rc < 0)
    co_return rc;
  const AcrSettings &acr = upstream.config->acr;
  // Step 3: the realm ACR names in its challenge is its /oauth2/token; an override wins.
  std::string token_url = !acr.token_url.empty()     ? acr.token_url
                          : !challenge_realm.empty() ? challenge_realm
                                                     : registry_url(upstream, {}, "/oauth2/token");
  Url url;
  if (!parse_url(token_url, url)) {
    *error = "the ACR token URL is not an http(s) URL";
    co_return -EINVAL;
  }
  std::string service = upstream.endpoint.host;
  std::array<std::pair<std::string_view, std::string_view>, 4> fields{
      {{"grant_type", "refresh_token"},
       {"service", service},
       {"scope", scope},
       {"refresh_token", refresh_token}}};
  std::string form = form_urlencode(fields);
  SmallResponse answer;
  co_await post_form(pool, url, form, observed_as, answer);
  if (answer.rc < 0) {
    *error = "ACR token endpoint: " + answer.error;
    co_return answer.rc;
  }
  if (answer.fields.status != 200) {
    *error = fmt::format("ACR /oauth2/token answered {}", answer.fields.status);
    if (answer.fields.status == 401) {
      // The refresh token was refused before its time: forget it so the next request exchanges
      // again.
      tokens.invalidate(refresh_token_key(upstream), refresh_token);
    }
    co_return -EACCES;
  }
  TokenResponse parsed;
  std::string parse_error;
  if (!parse_token_response(answer.body, parsed, &parse_error)) {
    *error = "ACR token answer: " + parse_error;
    co_return -EPROTO;
  }
  token = std::move(parsed.token);
  lifetime_s = jwt_lifetime_s(token, parsed.expires_in_s);
  co_return 0;
}

} // namespace regcache::registry

#include "registry/serve/client_access.h"

#include <fmt/format.h>

#include <array>
#include <chrono>

#include "core/bounded_format.h"
#include "core/unix_time.h"

namespace regcache::registry {
namespace {

std::string_view authorization_of(const http::RequestHead &request) {
  const http::Header *header = request.find("Authorization");
  return header == nullptr ? std::string_view() : header->value;
}

// Too many password checks running: the client tries again in a moment.
core::Task<int> send_login_busy(ClientConnection &client) {
  static constexpr http::Header kRetry{"Retry-After", "1"};
  client.set_outcome(CacheOutcome::Error);
  co_return co_await client.send_oci_error(503, OciErrorCode::TooManyRequests,
                                           "too many logins are being checked; try again",
                                           std::span<const http::Header>(&kRetry, 1));
}

const ClientPolicy &policy_for(const Config &config, const UpstreamChoice &upstream) {
  // An unconfigured registry (?ns=) is under the default upstream's policy.
  return upstream.config != nullptr ? upstream.config->clients : config.default_upstream().clients;
}

} // namespace

core::Task<int> send_login_challenge(ClientConnection &client, const http::RequestHead &request,
                                     std::string_view message) {
  client.set_outcome(CacheOutcome::Error);
  std::array<char, 600> challenge;
  const std::array<http::Header, 1> headers{
      http::Header{"WWW-Authenticate",
                   core::format_bounded(challenge, "Bearer realm=\"http://{}{}\",service=\"{}\"",
                                        request.host, kTokenPath, kTokenService)}};
  co_return co_await client.send_oci_error(401, OciErrorCode::Unauthorized, message, headers);
}

core::Task<std::optional<ClientIdentity>> identify_client(ClientConnection &client,
                                                          const http::RequestHead &request) {
  ClientAuth &auth = *client.generation().client_auth;
  if (!auth.enabled())
    co_return ClientIdentity{};
  ClientIdentity identity = co_await auth.identify(authorization_of(request));
  switch (identity.kind) {
  case ClientIdentity::Kind::Anonymous:
  case ClientIdentity::Kind::User:
    co_return identity;
  case ClientIdentity::Kind::BadCredentials:
    co_await send_login_challenge(client, request, "the credentials are not valid");
    co_return std::nullopt;
  case ClientIdentity::Kind::Busy:
    co_await send_login_busy(client);
    co_return std::nullopt;
  }
  co_return std::nullopt;
}

core::Task<void> respond_token(ClientConnection &client, const http::RequestHead &request) {
  ClientAuth &auth = *client.generation().client_auth;
  ClientIdentity identity = co_await auth.identify(authorization_of(request));
  switch (identity.kind) {
  case ClientIdentity::Kind::Anonymous:
  case ClientIdentity::Kind::User:
    break;
  case ClientIdentity::Kind::BadCredentials: {
    // A token request is answered like a Basic-protected resource (docker login shows it).
    static constexpr http::Header kBasic{"WWW-Authenticate", "Basic realm=\"regcache\""};
    client.set_outcome(CacheOutcome::Error);
    co_await client.send_oci_error(401, OciErrorCode::Unauthorized, "the credentials are not valid",
                                   std::span<const http::Header>(&kBasic, 1));
    co_return;
  }
  case ClientIdentity::Kind::Busy:
    co_await send_login_busy(client);
    co_return;
  }
  const std::string token = auth.tokens().issue(identity.user, core::unix_now_s());
  // The distribution token spec's answer; access_token for OAuth-minded clients.
  const std::string body = fmt::format(R"({{"token":"{}","access_token":"{}","expires_in":{}}})",
                                       token, token, ClientTokens::kLifetimeS);
  co_await client.send_simple(200, "application/json", body);
}

ProvenanceMark provenance_mark(const ConfigGeneration &generation, const UpstreamChoice &upstream) {
  if (!generation.blob_hits_need_routing)
    return ProvenanceMark::Untracked;
  return policy_for(generation.config, upstream).kind == ClientPolicy::Kind::Any
             ? ProvenanceMark::Public
             : ProvenanceMark::Limited;
}

core::Task<bool> stored_content_serves(ClientConnection &client, const UpstreamChoice &upstream,
                                       const Digest &digest) {
  if (provenance_mark(client.generation(), upstream) != ProvenanceMark::Public)
    co_return true;
  bool limited = co_await is_marked_limited(client.worker().store, digest);
  co_return !limited;
}

core::Task<bool> admit_to_upstream(ClientConnection &client, const http::RequestHead &request,
                                   const UpstreamChoice &upstream, const ClientIdentity &identity) {
  const ClientPolicy &policy = policy_for(client.generation().config, upstream);
  if (client_policy_allows(policy, identity.user))
    co_return true;
  if (identity.user.empty()) {
    co_await send_login_challenge(client, request, "this registry needs a regcache login");
  } else {
    client.set_outcome(CacheOutcome::Error);
    co_await client.send_oci_error(403, OciErrorCode::Denied,
                                   "this user may not pull from this registry");
  }
  co_return false;
}

} // namespace regcache::registry

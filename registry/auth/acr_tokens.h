#pragma once
// Azure Container Registry with an Entra ID identity, the flow of Azure/acr docs/AAD-OAuth.md:
//   1. an Entra ID access token for the ARM audience, from the machine's managed identity (the
//      instance metadata endpoint), a service principal's client credentials, or a token file;
//   2. POST https://<registry>/oauth2/exchange  -> an ACR refresh token (lifetime from its JWT
//   exp);
//   3. POST https://<registry>/oauth2/token     -> an access token per scope.
// Steps 1 and 2 are cached per registry in the shared TokenCache (single flight), step 3 by the
// caller under the scope's key. Every URL can be overridden in the upstream's AcrSettings.
#include <cstdint>
#include <string>

#include "core/task.h"
#include "http/upstream_pool.h"
#include "registry/auth/token_cache.h"
#include "registry/upstream/upstream_router.h"

namespace regcache::registry {

// `observed_as` tags the token requests for the worker's upstream observer
// (registry/upstream/upstream_observer.h).
core::Task<int> acr_access_token(http::UpstreamPool &pool, TokenCache &tokens,
                                 const UpstreamChoice &upstream, const std::string &challenge_realm,
                                 const std::string &scope, std::string &token, uint32_t &lifetime_s,
                                 uint32_t observed_as, std::string *error);

} // namespace regcache::registry

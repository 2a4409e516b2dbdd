#pragma once
// The configured upstream registries, their credentials, and the manifest TTL policy: the data
// model of configuration layers 2 and 3 (environment and config file). Parsing lives in
// option_table.cc / env_config.cc / config_file.cc; the request path only reads these.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "registry/api/client_policy.h"
#include "registry/api/manifest_ttl_tiers.h"
#include "registry/api/upstream_url.h"

namespace regcache::registry {

// Basic credentials, keyed by the host that RECEIVES them (docker-registry-proxy's rule): Docker
// Hub's under auth.docker.io, GitLab's under its primary domain when its registry lives
// elsewhere, GCR's `_json_key` with the service-account JSON as the password.
struct HostCredentials {
  std::string host; // host or host:port, lowercase
  std::string username;
  std::string password; // never logged, never echoed in errors
};

enum class UpstreamKind : uint8_t {
  Registry, // any OCI distribution registry; basic auth and the bearer-token flow
  Acr,      // Azure Container Registry with an Entra ID identity (token exchange)
};

// Entra ID / ACR endpoints. Every base URL can be overridden (tests point them at loopback).
struct AcrSettings {
  std::string tenant_id;     // AZURE_TENANT_ID (client credentials)
  std::string client_id;     // AZURE_CLIENT_ID (client credentials, or a user-assigned identity)
  std::string client_secret; // AZURE_CLIENT_SECRET
  std::string
      token_file; // a file holding an Entra ID access token (AZURE_FEDERATED_TOKEN_FILE-like)
  std::string imds_url = "http://169.254.169.254/metadata/identity/oauth2/token";
  std::string authority_url = "https://login.microsoftonline.com";
  std::string resource = "https://management.azure.com"; // the audience /oauth2/exchange accepts
  std::string exchange_url; // empty: https://<registry>/oauth2/exchange
  std::string token_url;    // empty: https://<registry>/oauth2/token
};

struct UpstreamConfig {
  std::string host; // routing key: the host (or host:port) clients name, e.g. "ghcr.io"
  UpstreamUrl url;  // where requests go
  UpstreamKind kind = UpstreamKind::Registry;
  std::string prefix;  // repository prefix added upstream (ACR cache rule "hub": name -> hub/name)
  std::string ca_file; // empty: the global --upstream-ca-file or the system store
  bool insecure = false;
  AcrSettings acr;
  std::optional<ManifestTtlSettings> manifest_ttl; // per-upstream override
  // Token servers besides the registry's own domain that may receive this upstream's
  // credentials ("auth_hosts" in the config file): host or host:port, lowercase, exact match.
  std::vector<std::string> auth_hosts;
  // Who may pull through this upstream ("clients"; --clients for the default upstream, which
  // also covers registries named with ?ns= that are not configured).
  ClientPolicy clients;
};

} // namespace regcache::registry

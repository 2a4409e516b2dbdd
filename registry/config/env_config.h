#pragma once
// Configuration layer 2: environment variables. REGCACHE_<OPTION> for every option of the
// table, docker-registry-proxy's REGISTRIES / AUTH_REGISTRIES (same names and meaning), and the
// Azure identity variables for acr upstreams.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "registry/config/acr_override.h"
#include "registry/config/env_lookup.h"
#include "registry/config/upstream_config.h"

namespace regcache::registry {

struct Config;

// What the environment says besides the option variables, merged by parse_options.
struct EnvLayer {
  std::vector<UpstreamConfig> registries;   // REGISTRIES, in order, one per host
  std::vector<HostCredentials> credentials; // AUTH_REGISTRIES, one per host
  std::vector<AcrOverride> acr;             // AZURE_* and REGCACHE_ACR_*
  std::vector<std::string> warnings;
};

// Applies every REGCACHE_<OPTION> variable to `config` and reads the others into `layer`. An
// empty variable counts as unset (compose files write VAR= for "not given"). On failure returns
// false with `error` naming the variable, quoting the value only when it cannot be a secret.
bool apply_environment(const EnvLookup &lookup, Config &config, EnvLayer &layer,
                       std::string *error);

// The manifest TTL policy's variables (ENABLE_MANIFEST_CACHE, MANIFEST_CACHE_*), parsed by
// load_manifest_ttl_env (manifest_ttl_env.h); apply_environment calls this after the option
// variables. When none of the six is set it changes nothing, so the config file's
// "manifest_cache" stands; when any is set, they define the whole global policy as they did in
// docker-registry-proxy (unset ones take its defaults).
bool apply_manifest_ttl_environment(const EnvLookup &lookup, ManifestTtlSettings &settings,
                                    std::string *error);

// true/false, 1/0, yes/no (lowercase, as systemd and compose write them); nullopt otherwise.
std::optional<bool> parse_env_bool(std::string_view text);

// REGISTRIES: hosts separated by whitespace, each cached as https://host (Docker Hub's names as
// "docker.io"). Repeated hosts are kept once. `origin` names the source in errors.
bool parse_registries(std::string_view value, std::string_view origin,
                      std::vector<UpstreamConfig> &registries, std::string *error);

// AUTH_REGISTRIES: entries separated by `entry_delimiter`, each host, user and password
// separated by `field_delimiter`. As docker-registry-proxy's entrypoint does, an entry is split
// at every field delimiter and only the first three fields count: a password containing the
// field delimiter is cut there (a warning says so; choose another AUTH_REGISTRY_DELIMITER).
// Whitespace around an entry is dropped, empty entries are skipped, hosts are normalized with
// credentials_host (docker.io -> auth.docker.io). Errors name the entry by position and never
// contain a user name or password.
bool parse_auth_registries(std::string_view value, std::string_view entry_delimiter,
                           std::string_view field_delimiter,
                           std::vector<HostCredentials> &credentials,
                           std::vector<std::string> &warnings, std::string *error);

} // namespace regcache::registry

#pragma once
// Configuration layer 3: the JSON config file (--config FILE or REGCACHE_CONFIG). Its top-level
// keys are the options' names in snake_case, plus "upstreams", "credentials", "acr" and
// "manifest_cache" (see help_text). Parsed with simdjson's DOM API and its error codes.
#include <string>
#include <string_view>
#include <vector>

#include "registry/config/acr_override.h"
#include "registry/config/upstream_config.h"

namespace regcache::registry {

struct Config;

// One entry of "upstreams". Its "acr" settings are kept as overrides: they apply over the
// process-wide ACR settings, which the environment may still change after the file is read.
struct ConfigFileUpstream {
  UpstreamConfig upstream; // acr left at its defaults
  std::vector<AcrOverride> acr;
  std::string origin; // "upstreams[2]", for errors found when merging
};

// What the file says besides the option keys (which go straight into the Config).
struct ConfigFileLayer {
  std::vector<ConfigFileUpstream> upstreams; // unique by host
  std::vector<HostCredentials> credentials;  // "credentials" and the upstreams' username/password
  std::vector<AcrOverride> acr;              // the top-level "acr"
  bool has_secrets = false;                  // a password or client_secret is in the file
  std::vector<std::string> warnings;
};

// Reads and applies the file at `path`. Errors name the file and the key
// (`/etc/regcache.json: key "upstreams[2].url": ...`) and never quote a secret. A file holding
// secrets that group or others may read gives a warning, not an error.
bool apply_config_file(const std::string &path, Config &config, ConfigFileLayer &layer,
                       std::string *error);

// The same for text already read; `origin` stands for the file in messages.
bool apply_config_text(std::string_view origin, std::string_view json, Config &config,
                       ConfigFileLayer &layer, std::string *error);

} // namespace regcache::registry

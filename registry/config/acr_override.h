#pragma once
// ACR identity settings as the environment and the config file give them: each layer records
// only the fields it sets, and parse_options applies the layers in order over AcrSettings'
// defaults.
#include <span>
#include <string>
#include <string_view>

#include "registry/config/upstream_config.h"

namespace regcache::registry {

// One AcrSettings field as set by a layer.
struct AcrOverride {
  std::string AcrSettings::*field;
  std::string value;
};
void apply_acr_overrides(std::span<const AcrOverride> overrides, AcrSettings &settings);

// What both layers accept for an ACR endpoint (imds_url, authority_url, ...): http:// or
// https:// followed by at least one character.
bool looks_like_http_url(std::string_view text);

} // namespace regcache::registry

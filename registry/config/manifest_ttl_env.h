#pragma once
// docker-registry-proxy's manifest-caching environment variables, read into regcache's
// manifest TTL policy so that a deployment can switch images and keep its configuration.
#include <string>
#include <string_view>

#include "registry/config/env_lookup.h"
#include "registry/config/upstream_config.h"

namespace regcache::registry {

// The variables and docker-registry-proxy's defaults for them (its Dockerfile, lines 82-98 at
// 7515d69, tag 0.7.0).
inline constexpr std::string_view kEnableManifestCacheVariable = "ENABLE_MANIFEST_CACHE";
inline constexpr std::string_view kPrimaryRegexVariable = "MANIFEST_CACHE_PRIMARY_REGEX";
inline constexpr std::string_view kPrimaryTimeVariable = "MANIFEST_CACHE_PRIMARY_TIME";
inline constexpr std::string_view kSecondaryRegexVariable = "MANIFEST_CACHE_SECONDARY_REGEX";
inline constexpr std::string_view kSecondaryTimeVariable = "MANIFEST_CACHE_SECONDARY_TIME";
inline constexpr std::string_view kDefaultTimeVariable = "MANIFEST_CACHE_DEFAULT_TIME";

inline constexpr std::string_view kPrimaryRegexDefault = "(stable|nightly|production|test)";
inline constexpr std::string_view kPrimaryTimeDefault = "10m";
inline constexpr std::string_view kSecondaryRegexDefault =
    R"((.*)(\d|\.)+(.*)(\d|\.)+(.*)(\d|\.)+)";
inline constexpr std::string_view kSecondaryTimeDefault = "60d";
inline constexpr std::string_view kDefaultTimeDefault = "1h";

// Reads the six variables into `settings`, with docker-registry-proxy's defaults and meaning:
// * ENABLE_MANIFEST_CACHE: unset keeps settings.enabled (regcache's own default); set, only
//   the exact text "true" enables and anything else ("TRUE", "1", "") disables.
// * enabled: a tier per non-empty *_REGEX, primary then secondary, each with its *_TIME; an
//   empty regex omits its tier (and its time is not read); *_DEFAULT_TIME for the rest. An
//   empty *_TIME counts as unset (regcache's convention for VAR=); nginx refused it.
// * disabled: the tier variables are not read, so leftovers cannot fail the start; every tag
//   request goes upstream (docker-registry-proxy's `proxy_cache_valid 0s`).
// Regex values are taken as nginx's config parser read them (see manifest_ttl_env.cc). On a bad
// value returns false, leaves `settings` unchanged, and sets *error to one line naming the
// variable: "MANIFEST_CACHE_PRIMARY_TIME=10x: not an nginx duration".
bool load_manifest_ttl_env(const EnvLookup &env, ManifestTtlSettings &settings, std::string *error);

} // namespace regcache::registry

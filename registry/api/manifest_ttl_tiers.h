#pragma once
// The manifest TTL tiers as configured: which tags stay fresh for how long. Plain data, read
// from the environment and the config file (config/), compiled by the classifier (this folder).
#include <cstdint>
#include <string>
#include <vector>

namespace regcache::registry {

// One TTL tier: tags whose text matches `regex` (PCRE2) are fresh for `ttl_ms`.
struct ManifestTtlTier {
  std::string regex;
  uint64_t ttl_ms = 0;
  std::string origin; // where it was configured (env var name or config path), for errors
};

struct ManifestTtlSettings {
  bool enabled = true; // false: every tag request goes upstream (stale-if-error stays)
  std::vector<ManifestTtlTier> tiers; // first match wins
  uint64_t default_ttl_ms = 3600 * 1000;
};

} // namespace regcache::registry

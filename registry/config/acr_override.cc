#include "registry/config/acr_override.h"

#include <cassert>

namespace regcache::registry {

void apply_acr_overrides(std::span<const AcrOverride> overrides, AcrSettings &settings) {
  for (const AcrOverride &entry : overrides) {
    assert(entry.field != nullptr);
    settings.*entry.field = entry.value;
  }
}

bool looks_like_http_url(std::string_view text) {
  return (text.starts_with("http://") && text.size() > 7) ||
         (text.starts_with("https://") && text.size() > 8);
}

} // namespace regcache::registry

#include "registry/config/env_lookup.h"

#include <cstdlib>
#include <string>

namespace regcache::registry {

EnvLookup process_environment_lookup() {
  return [](std::string_view name) -> std::optional<std::string_view> {
    const char *value = std::getenv(std::string(name).c_str());
    if (value == nullptr)
      return std::nullopt;
    return std::string_view(value);
  };
}

} // namespace regcache::registry

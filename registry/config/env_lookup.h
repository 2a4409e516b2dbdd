#pragma once
// How the configuration layers read environment variables: through a lookup function, so that
// tests inject a map and the process's environment is read in one place.
#include <functional>
#include <optional>
#include <string_view>

namespace regcache::registry {

// The value of an environment variable, nullopt when unset. Tests inject a map.
using EnvLookup = std::function<std::optional<std::string_view>(std::string_view name)>;
// getenv; the views stay valid as long as the process does not change its environment.
EnvLookup process_environment_lookup();

} // namespace regcache::registry

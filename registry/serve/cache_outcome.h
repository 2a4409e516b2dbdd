#pragma once
// How the cache answered a request, as the access log and the counters name it.
#include <cstdint>
#include <string_view>

namespace regcache::registry {

// Push: a push relayed to the upstream (--allow-push), which the cache neither answers nor keeps.
enum class CacheOutcome : uint8_t {
  None,
  Hit,
  Revalidated,
  Miss,
  Follow,
  Stale,
  Pass,
  Error,
  Push
};
// HIT, MISS, ...; "-" for None.
std::string_view outcome_name(CacheOutcome outcome);

} // namespace regcache::registry

#include "registry/serve/cache_outcome.h"

namespace regcache::registry {

std::string_view outcome_name(CacheOutcome outcome) {
  switch (outcome) {
  case CacheOutcome::None:
    return "-";
  case CacheOutcome::Hit:
    return "HIT";
  case CacheOutcome::Revalidated:
    return "REVALIDATED";
  case CacheOutcome::Miss:
    return "MISS";
  case CacheOutcome::Follow:
    return "FOLLOW";
  case CacheOutcome::Stale:
    return "STALE";
  case CacheOutcome::Pass:
    return "PASS";
  case CacheOutcome::Error:
    return "ERROR";
  case CacheOutcome::Push:
    return "PUSH";
  }
  return "-";
}

} // namespace regcache::registry

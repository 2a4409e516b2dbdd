#include "registry/serve/request_counters.h"

namespace regcache::registry {
namespace {

constexpr CacheOutcome kAnsweredByCache[] = {CacheOutcome::Hit, CacheOutcome::Revalidated,
                                             CacheOutcome::Stale};
constexpr CacheOutcome kLookups[] = {CacheOutcome::Hit, CacheOutcome::Revalidated,
                                     CacheOutcome::Stale, CacheOutcome::Miss, CacheOutcome::Follow};
constexpr RequestKind kCachedKinds[] = {RequestKind::Manifest, RequestKind::Blob};

template <size_t N>
uint64_t sum_of(const std::array<std::array<uint64_t, kCacheOutcomes>, kRequestKinds> &table,
                const CacheOutcome (&outcomes)[N]) {
  uint64_t sum = 0;
  for (RequestKind kind : kCachedKinds)
    for (CacheOutcome outcome : outcomes)
      sum += table[static_cast<size_t>(kind)][static_cast<size_t>(outcome)];
  return sum;
}

} // namespace

size_t duration_bucket(uint64_t elapsed_us) {
  const double seconds = static_cast<double>(elapsed_us) / 1e6;
  size_t bucket = 0;
  while (bucket < kDurationBounds && seconds > kDurationBoundsS[bucket])
    ++bucket;
  return bucket;
}

uint64_t RequestTotals::cache_answered() const {
  return sum_of(requests, kAnsweredByCache);
}

uint64_t RequestTotals::cache_lookups() const {
  return sum_of(requests, kLookups);
}

uint64_t RequestTotals::bytes_from_cache() const {
  return sum_of(body_bytes, kAnsweredByCache);
}

} // namespace regcache::registry

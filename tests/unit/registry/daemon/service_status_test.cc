#include "registry/daemon/service_status.h"

#include <gtest/gtest.h>

namespace regcache::registry {
namespace {

TEST(ServiceStatus, BeforeAnyRequest) {
  ServiceSummary summary;
  summary.cache_max_bytes = uint64_t{32} << 30;
  EXPECT_EQ(format_status_line(summary), "no requests yet, 0 bytes served from cache, 0 downloads "
                                         "in flight, cache 0 bytes of 32.0 GiB in 0 files");
}

TEST(ServiceStatus, RatioCountsManifestsAndBlobsAnsweredByTheCache) {
  RequestCounters counters;
  counters.count(RequestKind::Blob, CacheOutcome::Miss, 1000, 100);
  counters.count(RequestKind::Blob, CacheOutcome::Follow, 1000, 100);
  counters.count(RequestKind::Blob, CacheOutcome::Hit, 1 << 20, 100);
  counters.count(RequestKind::Manifest, CacheOutcome::Revalidated, 1 << 20, 100);
  counters.count(RequestKind::Manifest, CacheOutcome::Stale, 512 << 10, 100);
  // Neither lookups nor answers: a relayed error, a ping, a token.
  counters.count(RequestKind::Manifest, CacheOutcome::Pass, 100, 100);
  counters.count(RequestKind::Ping, CacheOutcome::None, 2, 100);
  counters.count(RequestKind::Token, CacheOutcome::None, 900, 100);
  ServiceSummary summary;
  summary.requests.add(counters);
  summary.requests.add(counters); // a second worker with the same numbers
  summary.downloads_running = 1;
  summary.cache_content_bytes = uint64_t{3} << 30;
  summary.cache_blobs = 1;
  EXPECT_EQ(summary.requests.cache_lookups(), 10u);
  EXPECT_EQ(summary.requests.cache_answered(), 6u);
  EXPECT_EQ(summary.requests.bytes_from_cache(), 2u * ((2u << 20) + (512u << 10)));
  EXPECT_EQ(format_status_line(summary), "hit ratio 60.0% (6 of 10), 5.0 MiB served from cache, "
                                         "1 download in flight, cache 3.0 GiB in 1 file");
}

} // namespace
} // namespace regcache::registry

namespace regcache::registry {
namespace {

TEST(RequestCounters, DurationBucketIsTheFirstBoundNotExceeded) {
  EXPECT_EQ(duration_bucket(0), 0u);
  EXPECT_EQ(duration_bucket(500), 0u); // 0.5 ms is the first bound itself
  EXPECT_EQ(duration_bucket(501), 1u);
  EXPECT_EQ(duration_bucket(1'000'000), 10u); // 1 s
  EXPECT_EQ(duration_bucket(300'000'000), kDurationBounds - 1);
  EXPECT_EQ(duration_bucket(300'000'001), kDurationBounds);
}

} // namespace
} // namespace regcache::registry

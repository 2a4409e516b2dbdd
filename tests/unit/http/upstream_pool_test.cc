// The upstream pool's bounds, without any I/O: connections with no socket are given back and
// taken again with explicit clocks. Idle connections are capped per endpoint, endpoints with
// idle connections are capped (the least recently used endpoint's go), idle connections past
// the idle timeout are closed when the pool is next used, and connections in use are counted
// until they are given back or closed.
#include "http/upstream_pool.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

namespace regcache::http {
namespace {

using Clock = UpstreamPool::Clock;
using std::chrono::milliseconds;

UpstreamSettings small_settings() {
  UpstreamSettings settings;
  settings.idle_connections_max = 2;
  settings.idle_endpoints_max = 3;
  settings.idle_timeout_ms = 1000;
  settings.active_connections_max = 8;
  return settings;
}

// A connection that does no I/O, out of the pool as if acquire had made it.
std::unique_ptr<UpstreamConnection> connection_to(UpstreamPool &pool, const std::string &key) {
  auto connection = std::make_unique<UpstreamConnection>(-1, nullptr, key);
  pool.count_in_use(*connection);
  return connection;
}

TEST(UpstreamPoolTest, AGivenBackConnectionIsTakenAgain) {
  UpstreamPool pool(small_settings());
  const Clock::time_point t0 = Clock::now();
  auto connection = connection_to(pool, "a:443");
  UpstreamConnection *raw = connection.get();
  EXPECT_EQ(pool.in_use(), 1u);
  pool.release(std::move(connection), t0);
  EXPECT_EQ(pool.in_use(), 0u);
  auto again = pool.take_idle("a:443", t0 + milliseconds(10));
  EXPECT_EQ(again.get(), raw);
  EXPECT_EQ(pool.in_use(), 1u);
  EXPECT_EQ(pool.take_idle("a:443", t0 + milliseconds(10)), nullptr);
}

TEST(UpstreamPoolTest, ARetuneClosesTheIdleAndTheLaterReturnedConnectionsOfBefore) {
  UpstreamPool pool(small_settings());
  const Clock::time_point t0 = Clock::now();
  pool.release(connection_to(pool, "a:443"), t0);
  auto out_during_reload = connection_to(pool, "a:443");
  UpstreamSettings reloaded = small_settings();
  reloaded.idle_timeout_ms = 5000;
  reloaded.idle_connections_max = 50; // a size: kept as it was
  pool.retune(reloaded);
  EXPECT_EQ(pool.idle_total(), 0u);
  EXPECT_EQ(pool.settings().idle_timeout_ms, 5000u);
  EXPECT_EQ(pool.settings().idle_connections_max, 2u);
  pool.release(std::move(out_during_reload), t0);
  EXPECT_EQ(pool.idle_total(), 0u) << "opened before the reload: closed, not pooled";
  EXPECT_EQ(pool.in_use(), 0u);
  pool.release(connection_to(pool, "a:443"), t0);
  EXPECT_EQ(pool.idle_total(), 1u) << "opened after it: pooled";
}

TEST(UpstreamPoolTest, ClosingAConnectionInUseLeavesTheCount) {
  UpstreamPool pool(small_settings());
  auto connection = connection_to(pool, "a:443");
  auto other = connection_to(pool, "a:443");
  EXPECT_EQ(pool.in_use(), 2u);
  connection.reset();
  EXPECT_EQ(pool.in_use(), 1u);
  other.reset();
  EXPECT_EQ(pool.in_use(), 0u);
}

TEST(UpstreamPoolTest, KeepsAtMostIdleConnectionsMaxPerEndpoint) {
  UpstreamPool pool(small_settings());
  const Clock::time_point t0 = Clock::now();
  for (int i = 0; i < 5; ++i)
    pool.release(connection_to(pool, "a:443"), t0 + milliseconds(i));
  EXPECT_EQ(pool.idle_connections("a:443"), 2u);
  EXPECT_EQ(pool.in_use(), 0u);
}

TEST(UpstreamPoolTest, KeepsAtMostIdleEndpointsMaxAndForgetsTheLeastRecentlyUsed) {
  UpstreamPool pool(small_settings());
  const Clock::time_point t0 = Clock::now();
  for (int i = 0; i < 100; ++i) {
    pool.release(connection_to(pool, "h" + std::to_string(i) + ":443"), t0);
    ASSERT_LE(pool.idle_endpoints(), 3u);
  }
  EXPECT_EQ(pool.idle_endpoints(), 3u);
  EXPECT_EQ(pool.idle_connections("h0:443"), 0u);
  EXPECT_EQ(pool.idle_connections("h99:443"), 1u);
}

TEST(UpstreamPoolTest, KeepsAtMostIdleTotalMaxOverAllEndpoints) {
  UpstreamSettings settings = small_settings();
  settings.idle_total_max = 4;
  UpstreamPool pool(settings);
  const Clock::time_point t0 = Clock::now();
  for (const char *key : {"a:443", "a:443", "b:443", "b:443", "c:443", "c:443"})
    pool.release(connection_to(pool, key), t0);
  EXPECT_EQ(pool.idle_total(), 4u);
  EXPECT_EQ(pool.idle_connections("a:443"), 0u); // the least recently used endpoint's went
  EXPECT_EQ(pool.idle_connections("c:443"), 2u);
  EXPECT_EQ(pool.in_use(), 0u);
}

TEST(UpstreamPoolTest, CountsIdleConnectionsExactlyThroughEveryWayOut) {
  UpstreamPool pool(small_settings());
  const Clock::time_point t0 = Clock::now();
  for (const char *key : {"a:443", "a:443", "b:443", "b:443", "c:443", "c:443"})
    pool.release(connection_to(pool, key), t0);
  EXPECT_EQ(pool.idle_total(), 6u);
  pool.release(connection_to(pool, "d:443"), t0); // a's two go with their endpoint
  EXPECT_EQ(pool.idle_total(), 5u);
  auto taken = pool.take_idle("c:443", t0);
  EXPECT_EQ(pool.idle_total(), 4u);
  pool.close_expired(t0 + milliseconds(5000));
  EXPECT_EQ(pool.idle_total(), 0u);
  EXPECT_EQ(pool.idle_endpoints(), 0u);
}

TEST(UpstreamPoolTest, AnEndpointInUseIsNotTheOneForgotten) {
  UpstreamPool pool(small_settings());
  const Clock::time_point t0 = Clock::now();
  pool.release(connection_to(pool, "a:443"), t0);
  pool.release(connection_to(pool, "a:443"), t0);
  pool.release(connection_to(pool, "b:443"), t0);
  pool.release(connection_to(pool, "c:443"), t0);
  auto used = pool.take_idle("a:443", t0); // a is now the most recently used endpoint
  pool.release(connection_to(pool, "d:443"), t0);
  EXPECT_EQ(pool.idle_connections("a:443"), 1u);
  EXPECT_EQ(pool.idle_connections("b:443"), 0u);
  EXPECT_EQ(pool.idle_connections("d:443"), 1u);
}

TEST(UpstreamPoolTest, AConnectionIdleTooLongIsNeverTaken) {
  UpstreamPool pool(small_settings());
  const Clock::time_point t0 = Clock::now();
  pool.release(connection_to(pool, "a:443"), t0);
  EXPECT_EQ(pool.take_idle("a:443", t0 + milliseconds(1000)), nullptr);
  EXPECT_EQ(pool.idle_endpoints(), 0u);
}

TEST(UpstreamPoolTest, IdleConnectionsPastTheTimeoutCloseWhenThePoolIsNextUsed) {
  UpstreamPool pool(small_settings());
  const Clock::time_point t0 = Clock::now();
  pool.release(connection_to(pool, "a:443"), t0);
  pool.release(connection_to(pool, "b:443"), t0 + milliseconds(500));
  pool.release(connection_to(pool, "b:443"), t0 + milliseconds(900));
  // Using the pool for another endpoint at 1.6 s closes a's connection and b's older one.
  EXPECT_EQ(pool.take_idle("c:443", t0 + milliseconds(1600)), nullptr);
  EXPECT_EQ(pool.idle_connections("a:443"), 0u);
  EXPECT_EQ(pool.idle_connections("b:443"), 1u);
  pool.close_expired(t0 + milliseconds(1900));
  EXPECT_EQ(pool.idle_endpoints(), 0u);
}

TEST(UpstreamPoolTest, WithoutPoolingAGivenBackConnectionIsClosed) {
  UpstreamSettings settings = small_settings();
  settings.idle_connections_max = 0;
  UpstreamPool pool(settings);
  pool.release(connection_to(pool, "a:443"), Clock::now());
  EXPECT_EQ(pool.in_use(), 0u);
  EXPECT_EQ(pool.idle_endpoints(), 0u);
}

} // namespace
} // namespace regcache::http

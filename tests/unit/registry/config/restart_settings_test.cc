// The settings a reload cannot change: named when they differ, kept at their running values,
// and everything else left as the new configuration says.
#include "registry/config/restart_settings.h"

#include <gtest/gtest.h>

namespace regcache::registry {
namespace {

TEST(RestartSettings, NothingNeedsARestartWhenOnlyLiveSettingsChange) {
  const Config running;
  Config next;
  next.header_timeout_ms = 1234;
  next.access_log = false;
  next.manifest_ttl.default_ttl_ms = 5;
  next.upstreams.push_back(UpstreamConfig{.host = "ghcr.io"});
  next.htpasswd_file = "/etc/regcache/users";
  EXPECT_TRUE(settings_needing_restart(running, next).empty());
}

TEST(RestartSettings, NamesEachChangedRestartOnlySettingInOrder) {
  const Config running;
  Config next;
  next.listen_address = "0.0.0.0:5000";
  next.workers = 4;
  next.cache_max_size_bytes = 1;
  next.scrub_rate.mode = ScrubRate::Mode::Off;
  const std::vector<std::string_view> expected = {"listen", "workers", "cache-max-size",
                                                  "scrub-rate"};
  EXPECT_EQ(settings_needing_restart(running, next), expected);
}

TEST(RestartSettings, KeepingThemRestoresTheRunningValuesAndLeavesTheRest) {
  Config running;
  running.cache_dir = "/var/cache/regcache";
  Config next;
  next.cache_dir = "/elsewhere";
  next.fetches_max = 3;
  next.min_free = SpaceFloor{.is_percent = false, .value = 77};
  next.idle_timeout_ms = 42;
  keep_restart_settings(running, next);
  EXPECT_EQ(next.cache_dir, "/var/cache/regcache");
  EXPECT_EQ(next.fetches_max, running.fetches_max);
  EXPECT_EQ(next.min_free, running.min_free);
  EXPECT_EQ(next.idle_timeout_ms, 42u);
  EXPECT_TRUE(settings_needing_restart(running, next).empty());
}

} // namespace
} // namespace regcache::registry

#include "registry/upstream/recent_upstream_errors.h"

#include <gtest/gtest.h>

#include <string>

namespace regcache::registry {
namespace {

RecentUpstreamError error_number(int n) {
  RecentUpstreamError entry;
  entry.unix_ms = n;
  entry.upstream = "docker.io";
  entry.method = "GET";
  entry.path = "/v2/library/alpine/manifests/" + std::to_string(n);
  entry.status = 429;
  return entry;
}

TEST(RecentUpstreamErrors, StartsEmpty) {
  RecentUpstreamErrors recent;
  EXPECT_TRUE(recent.snapshot().empty());
  EXPECT_EQ(recent.added_total(), 0u);
}

TEST(RecentUpstreamErrors, KeepsEntriesOldestFirst) {
  RecentUpstreamErrors recent;
  for (int n = 1; n <= 3; ++n)
    recent.add(error_number(n));
  const auto entries = recent.snapshot();
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].unix_ms, 1);
  EXPECT_EQ(entries[2].unix_ms, 3);
  EXPECT_EQ(entries[2].path, "/v2/library/alpine/manifests/3");
}

TEST(RecentUpstreamErrors, OverwritesTheOldestPastItsBound) {
  RecentUpstreamErrors recent;
  const int added = static_cast<int>(kRecentUpstreamErrorsMax) + 10;
  for (int n = 1; n <= added; ++n)
    recent.add(error_number(n));
  const auto entries = recent.snapshot();
  ASSERT_EQ(entries.size(), kRecentUpstreamErrorsMax);
  EXPECT_EQ(entries.front().unix_ms, 11);
  EXPECT_EQ(entries.back().unix_ms, added);
  for (size_t i = 1; i < entries.size(); ++i)
    EXPECT_EQ(entries[i].unix_ms, entries[i - 1].unix_ms + 1);
  EXPECT_EQ(recent.added_total(), static_cast<uint64_t>(added));
}

TEST(RecentUpstreamErrors, CutsLongPathsAndErrorTexts) {
  RecentUpstreamErrors recent;
  RecentUpstreamError entry = error_number(1);
  entry.path = std::string(5000, 'p');
  entry.error = std::string(5000, 'e');
  recent.add(entry);
  const auto entries = recent.snapshot();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].path.size(), kRecentErrorTextMax);
  EXPECT_EQ(entries[0].error.size(), kRecentErrorTextMax);
}

} // namespace
} // namespace regcache::registry

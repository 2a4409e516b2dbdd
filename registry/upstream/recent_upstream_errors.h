#pragma once
// The last kRecentUpstreamErrorsMax upstream failures and 429s, oldest overwritten first, for
// the status page (not /metrics: its labels must stay bounded). Shared by the workers behind a
// mutex: only failed requests come here, never the hit path, and each entry is a few short
// strings (their copies are the one allocation, on a path that is already an error).
#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "registry/upstream/upstream_observation.h"

namespace regcache::registry {

inline constexpr size_t kRecentUpstreamErrorsMax = 64;
// Longest path and error text kept: enough for any repository and reference.
inline constexpr size_t kRecentErrorTextMax = 256;

class RecentUpstreamErrors {
public:
  // Keeps `entry`, its path and error cut to kRecentErrorTextMax.
  void add(RecentUpstreamError entry);
  // Oldest first.
  std::vector<RecentUpstreamError> snapshot() const;
  uint64_t added_total() const;

private:
  mutable std::mutex mutex_;
  std::array<RecentUpstreamError, kRecentUpstreamErrorsMax> entries_;
  uint64_t added_ = 0; // entries_[added_ % max] is the next to overwrite
};

} // namespace regcache::registry

#include "registry/upstream/recent_upstream_errors.h"

namespace regcache::registry {

void RecentUpstreamErrors::add(RecentUpstreamError entry) {
  if (entry.path.size() > kRecentErrorTextMax)
    entry.path.resize(kRecentErrorTextMax);
  if (entry.error.size() > kRecentErrorTextMax)
    entry.error.resize(kRecentErrorTextMax);
  std::lock_guard lock(mutex_);
  entries_[added_ % kRecentUpstreamErrorsMax] = std::move(entry);
  ++added_;
}

std::vector<RecentUpstreamError> RecentUpstreamErrors::snapshot() const {
  std::lock_guard lock(mutex_);
  const uint64_t kept = added_ < kRecentUpstreamErrorsMax ? added_ : kRecentUpstreamErrorsMax;
  std::vector<RecentUpstreamError> out;
  out.reserve(kept);
  for (uint64_t i = added_ - kept; i < added_; ++i)
    out.push_back(entries_[i % kRecentUpstreamErrorsMax]);
  return out;
}

uint64_t RecentUpstreamErrors::added_total() const {
  std::lock_guard lock(mutex_);
  return added_;
}

} // namespace regcache::registry

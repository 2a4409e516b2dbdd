#pragma once
// The per-day figures of the status page, and the thread that keeps them: once a minute it adds
// what the workers counted since its last look to today's (UTC) figures and writes them to
// meta/daily-traffic, so the days survive a restart; once more at stop. The file is rewritten
// whole (tmp/ + rename) and is a few KiB at most (DailyTraffic::kEncodedBytesMax).
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "registry/cache/blob_store.h"
#include "registry/serve/daily_traffic.h"
#include "registry/serve/request_counters.h"

namespace regcache::registry {

// The day figures `totals` (sums since start) hold.
DayTraffic day_traffic_of(const RequestTotals &totals, int64_t day);
// The UTC day of a Unix time.
int64_t unix_day(int64_t unix_s);

class TrafficHistory {
public:
  static constexpr const char *kFileName = "meta/daily-traffic";
  static constexpr std::chrono::seconds kSaveInterval{60};

  TrafficHistory() = default;
  ~TrafficHistory();
  TrafficHistory(const TrafficHistory &) = delete;
  TrafficHistory &operator=(const TrafficHistory &) = delete;

  // Reads the kept days (a missing or damaged file starts an empty history) and starts the
  // thread, which asks `totals` for the workers' sums.
  void start(BlobStore &store, std::function<RequestTotals()> totals);
  // Takes the last sample, writes the file and ends the thread.
  void stop();
  // The kept days with what was counted since the last sample added to today's, newest first.
  DailyTraffic current(const RequestTotals &totals, int64_t today) const;

private:
  void run();
  void sample_and_save();

  BlobStore *store_ = nullptr;
  std::function<RequestTotals()> totals_;
  mutable std::mutex mutex_; // guards everything below
  DailyTraffic days_;
  DayTraffic sampled_; // the since-start sums already added to days_ (its day unused)
  bool stopping_ = false;
  std::condition_variable wake_;
  std::thread thread_;
};

} // namespace regcache::registry

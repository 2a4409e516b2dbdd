#include "registry/daemon/traffic_history.h"

#include <fmt/format.h>

#include <array>
#include <optional>

#include "core/log_style.h"
#include "core/unix_time.h"
#include "registry/cache/atomic_file.h"

namespace regcache::registry {
namespace {

uint64_t since(uint64_t now, uint64_t before) {
  return now > before ? now - before : 0;
}

// Saturating: a page's sums may have been read just before a sample took later ones.
DayTraffic difference(const DayTraffic &now, const DayTraffic &before) {
  return DayTraffic{
      now.day, since(now.lookups, before.lookups), since(now.answered, before.answered),
      since(now.cache_bytes, before.cache_bytes), since(now.requests, before.requests)};
}

} // namespace

DayTraffic day_traffic_of(const RequestTotals &totals, int64_t day) {
  DayTraffic traffic;
  traffic.day = day;
  traffic.lookups = totals.cache_lookups();
  traffic.answered = totals.cache_answered();
  traffic.cache_bytes = totals.bytes_from_cache();
  for (const auto &by_outcome : totals.requests) {
    for (uint64_t count : by_outcome)
      traffic.requests += count;
  }
  return traffic;
}

int64_t unix_day(int64_t unix_s) {
  return unix_s >= 0 ? unix_s / 86400 : (unix_s - 86399) / 86400;
}

TrafficHistory::~TrafficHistory() {
  stop();
}

void TrafficHistory::start(BlobStore &store, std::function<RequestTotals()> totals) {
  store_ = &store;
  totals_ = std::move(totals);
  std::array<char, DailyTraffic::kEncodedBytesMax + 1> buffer;
  int got = read_small_file_blocking(store, kFileName, buffer);
  std::optional<DailyTraffic> kept;
  if (got > 0 && static_cast<size_t>(got) <= DailyTraffic::kEncodedBytesMax)
    kept = DailyTraffic::decode(std::string_view(buffer.data(), static_cast<size_t>(got)));
  if (kept)
    days_ = *kept;
  else if (got != 0) // a file too long, unreadable or not ours; missing or empty is a first start
    core::log_message(fmt::format("{} is damaged: the daily figures start again", kFileName));
  thread_ = std::thread([this] { run(); });
}

void TrafficHistory::stop() {
  if (!thread_.joinable())
    return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  sample_and_save();
}

void TrafficHistory::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) { // one turn a minute until stop()
    wake_.wait_for(lock, kSaveInterval, [this] { return stopping_; });
    if (stopping_)
      break;
    lock.unlock();
    sample_and_save();
    lock.lock();
  }
}

void TrafficHistory::sample_and_save() {
  // A minute's traffic around midnight lands on the day of the sample: the figures are for
  // people, and a sample per request would put a lock on the hot path.
  const RequestTotals totals = totals_();
  const int64_t today = unix_day(core::unix_now_s());
  std::string text;
  {
    std::lock_guard lock(mutex_);
    DayTraffic now = day_traffic_of(totals, today);
    days_.add(difference(now, sampled_));
    sampled_ = now;
    text = days_.encode();
  }
  // Not fsynced: a crash loses at most the last minute's figures, never the whole file.
  if (!write_file_atomically_blocking(*store_, kFileName, text, false))
    core::log_message(fmt::format("cannot write {}", kFileName));
}

DailyTraffic TrafficHistory::current(const RequestTotals &totals, int64_t today) const {
  std::lock_guard lock(mutex_);
  DailyTraffic days = days_;
  days.add(difference(day_traffic_of(totals, today), sampled_));
  return days;
}

} // namespace regcache::registry

#include "registry/cache/blob_index.h"

#include <algorithm>
#include <cassert>

namespace regcache::registry {

uint64_t BlobIndex::disk_bytes_of(uint64_t size_bytes) const {
  // Whole blocks, as du counts them: a 1-byte manifest takes a block of the disk.
  return (size_bytes + block_bytes_ - 1) / block_bytes_ * block_bytes_;
}

void BlobIndex::account_added(uint64_t size_bytes) {
  disk_bytes_.fetch_add(disk_bytes_of(size_bytes), std::memory_order_relaxed);
  content_bytes_.fetch_add(size_bytes, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  changes_.fetch_add(1, std::memory_order_relaxed);
}

void BlobIndex::account_removed(uint64_t size_bytes) {
  disk_bytes_.fetch_sub(disk_bytes_of(size_bytes), std::memory_order_relaxed);
  content_bytes_.fetch_sub(size_bytes, std::memory_order_relaxed);
  count_.fetch_sub(1, std::memory_order_relaxed);
  changes_.fetch_add(1, std::memory_order_relaxed);
}

void BlobIndex::kick() noexcept {
  if (IndexListener *listener = listener_.load())
    listener->on_index_work();
}

void BlobIndex::reset(uint64_t block_bytes, std::span<const IndexRecord> records,
                      uint64_t eviction_clock) {
  assert(block_bytes > 0);
  block_bytes_ = block_bytes;
  disk_bytes_ = 0;
  content_bytes_ = 0;
  count_ = 0;
  for (Shard &shard : shards_) {
    std::lock_guard lock(shard.mutex);
    shard.entries.clear();
    shard.hits_since_reset = 0;
  }
  clock_ = eviction_clock;
  for (const IndexRecord &record : records) {
    Shard &shard = shard_of(record.digest);
    std::lock_guard lock(shard.mutex);
    auto [it, inserted] = shard.entries.try_emplace(record.digest);
    if (!inserted)
      account_removed(it->second.size_bytes);
    it->second = Entry{record.size_bytes, record.last_use_unix_s, record.hits, record.priority, 0,
                       BlobState::Present};
    account_added(record.size_bytes);
  }
  changes_ = 0;
}

BlobIndex::HitVerdict BlobIndex::check_hit(const Digest &digest, uint64_t file_size_bytes,
                                           int64_t now_unix_s) {
  RotReport report;
  {
    Shard &shard = shard_of(digest);
    std::lock_guard lock(shard.mutex);
    auto it = shard.entries.find(digest);
    if (it == shard.entries.end())
      return HitVerdict::Unknown;
    Entry &entry = it->second;
    if (entry.state != BlobState::Present)
      return HitVerdict::Withheld;
    if (entry.size_bytes == file_size_bytes) {
      entry.last_use_unix_s = now_unix_s;
      entry.hits += entry.hits < UINT64_MAX / 2 ? 1 : 0;
      entry.priority = clock_.load(std::memory_order_relaxed) + entry.hits;
      ++shard.hits_since_reset;
      return HitVerdict::Serve;
    }
    // Published files never change size: this one was truncated, extended or replaced by
    // something outside regcache. Serving it would send a body that is not the blob.
    entry.state = BlobState::Rotten;
    report =
        RotReport{digest, entry.generation, RotCause::SizeOnHit, entry.size_bytes, file_size_bytes};
  }
  report_rot(report);
  return HitVerdict::Rotten;
}

void BlobIndex::forget_missing(const Digest &digest) {
  Shard &shard = shard_of(digest);
  std::lock_guard lock(shard.mutex);
  auto it = shard.entries.find(digest);
  // Evicting and Rotten entries belong to the evictor, which removes them itself.
  if (it == shard.entries.end() || it->second.state != BlobState::Present)
    return;
  account_removed(it->second.size_bytes);
  shard.entries.erase(it);
}

void BlobIndex::add(const Digest &digest, uint64_t size_bytes, int64_t now_unix_s) {
  {
    Shard &shard = shard_of(digest);
    std::lock_guard lock(shard.mutex);
    auto [it, inserted] = shard.entries.try_emplace(digest);
    Entry &entry = it->second;
    if (!inserted)
      account_removed(entry.size_bytes);
    // A new generation: the file at the path is a new one, whatever the old entry said. The
    // digest's hits stay: a blob fetched again after rot is as popular as it was.
    const uint64_t hits = inserted ? 1 : entry.hits + 1;
    entry = Entry{size_bytes,
                  now_unix_s,
                  hits,
                  clock_.load(std::memory_order_relaxed) + hits,
                  inserted ? 0 : entry.generation + 1,
                  BlobState::Present};
    account_added(size_bytes);
  }
  if (disk_bytes() > kick_above_bytes_.load(std::memory_order_relaxed))
    kick();
}

bool BlobIndex::holds(const Digest &digest, uint64_t size_bytes) const {
  const Shard &shard = shard_of(digest);
  std::lock_guard lock(shard.mutex);
  auto it = shard.entries.find(digest);
  return it != shard.entries.end() && it->second.state == BlobState::Present &&
         it->second.size_bytes == size_bytes;
}

bool BlobIndex::lookup(const Digest &digest, IndexEntryView &out) const {
  const Shard &shard = shard_of(digest);
  std::lock_guard lock(shard.mutex);
  auto it = shard.entries.find(digest);
  if (it == shard.entries.end())
    return false;
  out = view_of(digest, it->second);
  return true;
}

void BlobIndex::collect(std::vector<IndexEntryView> &out) const {
  out.clear();
  out.reserve(count() + 16);
  for (const Shard &shard : shards_) {
    std::lock_guard lock(shard.mutex);
    for (const auto &[digest, entry] : shard.entries)
      out.push_back(view_of(digest, entry));
  }
}

bool BlobIndex::begin_eviction(const IndexEntryView &seen) {
  Shard &shard = shard_of(seen.digest);
  std::lock_guard lock(shard.mutex);
  auto it = shard.entries.find(seen.digest);
  if (it == shard.entries.end())
    return false;
  Entry &entry = it->second;
  if (entry.generation != seen.generation)
    return false;
  // Used since it was chosen: it is no longer among the least valuable.
  if (entry.state != BlobState::Present || entry.priority != seen.priority ||
      entry.last_use_unix_s != seen.last_use_unix_s)
    return false;
  entry.state = BlobState::Evicting;
  return true;
}

bool BlobIndex::begin_purge(const Digest &digest, IndexEntryView *out) {
  Shard &shard = shard_of(digest);
  std::lock_guard lock(shard.mutex);
  auto it = shard.entries.find(digest);
  if (it == shard.entries.end() || it->second.state != BlobState::Present)
    return false;
  it->second.state = BlobState::Evicting;
  *out = view_of(digest, it->second);
  return true;
}

void BlobIndex::cancel_eviction(const Digest &digest, uint32_t generation) {
  Shard &shard = shard_of(digest);
  std::lock_guard lock(shard.mutex);
  auto it = shard.entries.find(digest);
  if (it != shard.entries.end() && it->second.generation == generation &&
      it->second.state == BlobState::Evicting) {
    it->second.state = BlobState::Present;
  }
}

void BlobIndex::finish_removal(const Digest &digest, uint32_t generation) {
  Shard &shard = shard_of(digest);
  std::lock_guard lock(shard.mutex);
  auto it = shard.entries.find(digest);
  if (it == shard.entries.end() || it->second.generation != generation ||
      it->second.state == BlobState::Present) {
    return; // published again meanwhile: the new file stays
  }
  account_removed(it->second.size_bytes);
  shard.entries.erase(it);
}

void BlobIndex::report_rot(const RotReport &report) {
  {
    std::lock_guard lock(side_mutex_);
    if (rot_queued_ < rot_queue_.size()) {
      rot_queue_[rot_queued_++] = report;
    } else {
      ++rot_dropped_; // the entry stays Rotten; the evictor's next round finds it anyway
    }
  }
  kick();
}

size_t BlobIndex::take_rot_reports(std::span<RotReport> out, uint64_t *dropped) {
  std::lock_guard lock(side_mutex_);
  size_t taken = std::min(out.size(), rot_queued_);
  std::copy_n(rot_queue_.begin(), taken, out.begin());
  std::copy(rot_queue_.begin() + static_cast<ptrdiff_t>(taken),
            rot_queue_.begin() + static_cast<ptrdiff_t>(rot_queued_), rot_queue_.begin());
  rot_queued_ -= taken;
  *dropped = rot_dropped_;
  rot_dropped_ = 0;
  return taken;
}

bool BlobIndex::mark_rotten(const Digest &digest, uint32_t generation, RotCause cause,
                            uint64_t file_size_bytes) {
  RotReport report;
  {
    Shard &shard = shard_of(digest);
    std::lock_guard lock(shard.mutex);
    auto it = shard.entries.find(digest);
    if (it == shard.entries.end() || it->second.generation != generation ||
        it->second.state != BlobState::Present) {
      return false;
    }
    it->second.state = BlobState::Rotten;
    report = RotReport{digest, generation, cause, it->second.size_bytes, file_size_bytes};
  }
  report_rot(report);
  return true;
}

uint64_t BlobIndex::change_count() const {
  uint64_t total = changes_.load(std::memory_order_relaxed);
  for (const Shard &shard : shards_) {
    std::lock_guard lock(shard.mutex);
    total += shard.hits_since_reset;
  }
  return total;
}

void BlobIndex::advance_eviction_clock(uint64_t priority) {
  uint64_t now = clock_.load(std::memory_order_relaxed);
  // Only the evictor's thread advances it; the loop is for the form, never for a race.
  while (priority > now && !clock_.compare_exchange_weak(now, priority, std::memory_order_relaxed))
    ;
  changes_.fetch_add(1, std::memory_order_relaxed);
}

void BlobIndex::set_scrub_cursor(const Digest &digest) {
  std::lock_guard lock(side_mutex_);
  if (scrub_cursor_ != digest)
    changes_.fetch_add(1, std::memory_order_relaxed);
  scrub_cursor_ = digest;
}

Digest BlobIndex::scrub_cursor() const {
  std::lock_guard lock(side_mutex_);
  return scrub_cursor_;
}

IndexSnapshot BlobIndex::snapshot() const {
  IndexSnapshot snapshot;
  snapshot.eviction_clock = eviction_clock();
  snapshot.scrub_cursor = scrub_cursor();
  snapshot.records.reserve(count() + 16);
  for (const Shard &shard : shards_) {
    std::lock_guard lock(shard.mutex);
    for (const auto &[digest, entry] : shard.entries) {
      // A Rotten entry's file is gone. An Evicting one's may stay (it may turn out open).
      if (entry.state != BlobState::Rotten)
        snapshot.records.push_back(IndexRecord{digest, entry.size_bytes, entry.last_use_unix_s,
                                               entry.hits, entry.priority});
    }
  }
  std::sort(
      snapshot.records.begin(), snapshot.records.end(),
      [](const IndexRecord &a, const IndexRecord &b) { return digest_less(a.digest, b.digest); });
  return snapshot;
}

} // namespace regcache::registry

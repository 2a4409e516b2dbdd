#include "registry/cache/evictor.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <chrono>
#include <cstdio>

#include "core/log_style.h"
#include "registry/cache/blob_fetch.h"
#include "registry/cache/blob_store.h"
#include "registry/cache/index_snapshot.h"
#include "registry/cache/open_blob_files.h"
#include "registry/cache/tag_sweep.h"

namespace regcache::registry {
namespace {

// Entries marked Evicting at once, between two reads of /proc/self/fd: large enough that a
// round of thousands of small blobs reads /proc a few times, small enough that a hit on one of
// them meanwhile is unlikely.
constexpr size_t kBatchMax = 1024;
constexpr int kBatchesPerRoundMax = 256;

int64_t steady_now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string digest_text(const Digest &digest) {
  return to_string(digest);
}

std::string rot_description(const RotReport &report) {
  switch (report.cause) {
  case RotCause::SizeOnHit:
    return fmt::format("a hit found {} bytes where the index has {}", report.file_size_bytes,
                       report.index_size_bytes);
  case RotCause::SizeOnScrub:
    return fmt::format("the scrub found {} bytes where the index has {}", report.file_size_bytes,
                       report.index_size_bytes);
  case RotCause::DigestOnScrub:
    return fmt::format("the scrub found {} bytes that do not hash to the digest",
                       report.file_size_bytes);
  case RotCause::DigestOnHit:
    return fmt::format("a hit read {} bytes that do not hash to the digest",
                       report.file_size_bytes);
  }
  return "rot";
}

} // namespace

Evictor::Evictor(BlobStore &store, FetchTable &fetches, EvictorSettings settings,
                 TagIndex *tags_held)
    : store_(store), index_(store.index()), fetches_(fetches), tags_held_(tags_held),
      settings_(settings) {}

Evictor::~Evictor() {
  stop();
}

void Evictor::start(bool save_now) {
  assert(!thread_.joinable());
  blobs_prefix_ = open_blobs_prefix(store_.root_fd());
  if (blobs_prefix_.empty()) {
    core::log_message("/proc/self/fd cannot be read: nothing will be evicted (which "
                      "blobs are being read cannot be known)");
  }
  core::log_message(fmt::format("disk: evicting from 95% of --cache-max-size {} or of what keeps "
                                "--min-free {} free on the file system, whichever is less",
                                format_byte_size(settings_.cache_max_bytes),
                                settings_.min_free.is_percent
                                    ? fmt::format("{}%", settings_.min_free.value)
                                    : format_byte_size(settings_.min_free.value)));
  saved_changes_ = save_now ? index_.change_count() - 1 : index_.change_count();
  last_save_s_ = save_now ? 0 : steady_now_s();
  index_.set_listener(this);
  thread_ = std::thread([this] { run(); });
}

void Evictor::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (!thread_.joinable())
    return;
  thread_.join();
  // The last save, with every last use up to now: a clean restart loses nothing.
  save_index_if_changed(true);
}

void Evictor::on_index_work() noexcept {
  {
    std::lock_guard lock(mutex_);
    work_ = true;
  }
  wake_.notify_one();
}

void Evictor::run() {
  for (;;) { // until stop(); each turn is one round
    one_round();
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, std::chrono::milliseconds(settings_.check_interval_ms),
                   [this] { return work_ || stopping_; });
    if (stopping_)
      return;
    work_ = false;
  }
}

bool Evictor::read_disk_state(DiskState &out) {
  struct statvfs fs {};
  if (::fstatvfs(store_.root_fd(), &fs) != 0)
    return false;
  const uint64_t block = fs.f_frsize != 0 ? fs.f_frsize : fs.f_bsize;
  out.fs_total_bytes = static_cast<uint64_t>(fs.f_blocks) * block;
  out.fs_available_bytes = static_cast<uint64_t>(fs.f_bavail) * block;
  out.cache_disk_bytes = index_.disk_bytes() + directory_bytes();
  return true;
}

uint64_t Evictor::directory_bytes() {
  const int64_t now_s = steady_now_s();
  if (directory_measured_ && now_s - directory_measured_s_ < 60)
    return directory_bytes_;
  uint64_t total = 0;
  auto add = [&](const char *path) {
    struct stat stat {};
    if (::fstatat(store_.root_fd(), path, &stat, AT_SYMLINK_NOFOLLOW) == 0)
      total += static_cast<uint64_t>(stat.st_blocks) * 512;
  };
  add("blobs");
  add("blobs/sha256");
  for (int directory = 0; directory < 256; ++directory) {
    std::array<char, 32> path;
    auto end = fmt::format_to_n(path.data(), path.size() - 1, "blobs/sha256/{:02x}", directory);
    *end.out = '\0';
    add(path.data());
  }
  directory_bytes_ = total;
  directory_measured_s_ = now_s;
  directory_measured_ = true;
  return total;
}

void Evictor::one_round() {
  handle_rot_reports();
  DiskState disk;
  if (read_disk_state(disk) && !blobs_prefix_.empty()) {
    const EvictionLevels levels =
        eviction_levels(disk, settings_.cache_max_bytes, settings_.min_free);
    // Publishes past the high watermark wake this thread at once, not at the next check (the
    // index counts files only).
    const uint64_t directories = directory_bytes();
    index_.set_kick_above(levels.high_bytes > directories ? levels.high_bytes - directories : 0);
    const uint64_t wanted = bytes_to_evict(levels, disk.cache_disk_bytes);
    if (wanted > 0) {
      std::vector<Digest> evicted_manifests;
      const auto started = std::chrono::steady_clock::now();
      const RoundResult result = evict(wanted, evicted_manifests);
      evicted_total_.fetch_add(result.evicted, std::memory_order_relaxed);
      evicted_bytes_total_.fetch_add(result.freed_bytes, std::memory_order_relaxed);
      const auto elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::steady_clock::now() - started)
                                  .count();
      const std::string bound =
          levels.free_space_bound
              ? fmt::format("{}, what --min-free leaves on the file system",
                            format_byte_size(levels.limit_bytes))
              : fmt::format("--cache-max-size {}", format_byte_size(levels.limit_bytes));
      if (result.evicted > 0) {
        core::log_message(fmt::format(
            "evicted {} blobs ({}, fewest hits and least recently used first) in {} "
            "ms: the cache now holds {} in {} files (limit: {}){}",
            result.evicted, format_byte_size(result.freed_bytes), elapsed_ms,
            format_byte_size(index_.disk_bytes() + directory_bytes_), index_.count(), bound,
            result.kept_open + result.kept_fetching > 0
                ? fmt::format("; kept {} being read and {} being downloaded", result.kept_open,
                              result.kept_fetching)
                : std::string()));
      }
      const bool stuck = result.freed_bytes < wanted;
      if (stuck && !stuck_logged_) {
        core::log_message(
            fmt::format("the cache holds {}, over 95% of {}, and nothing more can be evicted now "
                        "({} blobs being read, {} being downloaded); retrying every second",
                        format_byte_size(index_.disk_bytes() + directory_bytes_), bound,
                        result.kept_open, result.kept_fetching));
      }
      stuck_logged_ = stuck;
      if (!evicted_manifests.empty()) {
        std::sort(evicted_manifests.begin(), evicted_manifests.end(), digest_less);
        const TagSweepReport swept = sweep_tag_entries(store_, evicted_manifests, tags_held_);
        if (swept.entries_dropped > 0) {
          core::log_message(
              fmt::format("{} evicted manifests: dropped the {} tag entries naming them "
                          "(and {} tag files left empty)",
                          evicted_manifests.size(), swept.entries_dropped, swept.files_removed));
        }
      }
    } else {
      stuck_logged_ = false;
    }
  }
  save_index_if_changed(false);
}

void Evictor::handle_rot_reports() {
  std::array<RotReport, 64> reports;
  uint64_t dropped = 0;
  const size_t taken = index_.take_rot_reports(reports, &dropped);
  for (size_t i = 0; i < taken; ++i) {
    const RotReport &report = reports[i];
    // The finder unlinked the file already; the entry goes now unless the digest was published
    // again meanwhile (a new generation).
    index_.finish_removal(report.digest, report.generation);
    core::log_message(
        fmt::format("rot: {}: {}; the file was removed and is fetched again on the next "
                    "request",
                    digest_text(report.digest), rot_description(report)));
  }
  if (dropped == 0)
    return;
  core::log_message(fmt::format("rot: {} more rotten files were removed (not listed)", dropped));
  index_.collect(entries_);
  for (const IndexEntryView &entry : entries_) {
    if (entry.state == BlobState::Rotten)
      index_.finish_removal(entry.digest, entry.generation);
  }
}

bool Evictor::remove_files(const Digest &digest) {
  const int root = store_.root_fd();
  const StorePath blob = BlobStore::blob_path(digest);
  ::unlinkat(root, blob.c_str(), 0); // -ENOENT: deleted by hand; the entry goes all the same
  const StorePath meta = BlobStore::meta_path(digest);
  // The provenance mark stays: a fetch through a limited upstream may be publishing the digest
  // again right now (its client missed while the entry was Evicting), and removing its fresh
  // mark would make that content public. A mark without a blob only keeps a later public
  // fetch from adopting it; the start-up listing removes such marks (index_file.h).
  return ::unlinkat(root, meta.c_str(), 0) == 0;
}

Evictor::RoundResult Evictor::evict(uint64_t bytes_wanted, std::vector<Digest> &evicted_manifests) {
  RoundResult result;
  index_.collect(entries_);
  order_for_eviction(entries_);
  std::vector<IndexEntryView> batch;
  batch.reserve(kBatchMax);
  size_t next = 0;
  uint64_t highest_priority = 0;
  for (int round = 0;
       round < kBatchesPerRoundMax && result.freed_bytes < bytes_wanted && next < entries_.size();
       ++round) {
    batch.clear();
    uint64_t planned_bytes = 0;
    while (next < entries_.size() && batch.size() < kBatchMax &&
           result.freed_bytes + planned_bytes < bytes_wanted) {
      const IndexEntryView &entry = entries_[next++];
      if (fetches_.join(entry.digest, false) || fetches_.join(entry.digest, true)) {
        ++result.kept_fetching;
        continue;
      }
      if (!index_.begin_eviction(entry))
        continue; // used, published again or removed since it was collected
      batch.push_back(entry);
      planned_bytes += index_.disk_bytes_of(entry.size_bytes);
    }
    if (batch.empty())
      break;
    const std::vector<Digest> open = open_blob_files(blobs_prefix_);
    for (const IndexEntryView &entry : batch) {
      if (std::binary_search(open.begin(), open.end(), entry.digest, digest_less)) {
        index_.cancel_eviction(entry.digest, entry.generation);
        ++result.kept_open;
        continue;
      }
      if (remove_files(entry.digest)) {
        evicted_manifests.push_back(entry.digest);
        // Hits already miss (the index entry is Evicting); this gives the memory back.
        store_.manifests_in_memory().drop(entry.digest);
      }
      index_.finish_removal(entry.digest, entry.generation);
      highest_priority = std::max(highest_priority, entry.priority);
      ++result.evicted;
      result.freed_bytes += index_.disk_bytes_of(entry.size_bytes);
    }
  }
  if (result.evicted > 0)
    index_.advance_eviction_clock(highest_priority);
  return result;
}

void Evictor::save_index_if_changed(bool force) {
  const uint64_t changes = index_.change_count();
  if (changes == saved_changes_)
    return;
  const int64_t now_s = steady_now_s();
  if (!force && now_s - last_save_s_ < static_cast<int64_t>(settings_.save_interval_s))
    return;
  std::string error;
  if (!store_.save_index(&error)) {
    core::log_message(
        fmt::format("index: {} (kept in memory; the next start lists blobs/)", error));
  }
  saved_changes_ = changes;
  last_save_s_ = now_s;
}

} // namespace regcache::registry

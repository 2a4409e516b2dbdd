#pragma once
// The status page at /_/status: one HTML document from a plain view of the server, with no
// script, no external asset and every string from an operator or a client escaped. Each key
// number is shown for people (MiB, percentages) and carried exactly in a data-value attribute
// of the element whose data-key names it, so a test (or a scraper) reads the same numbers.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "registry/serve/daily_traffic.h"
#include "registry/serve/image_rankings.h"

namespace regcache::registry {

struct DownloadRow {
  std::string digest; // sha256:<hex>
  std::string repository;
  uint64_t written_bytes = 0;
  std::optional<uint64_t> total_bytes;
  uint32_t readers = 0;
  bool passing_through = false;
};

struct RateLimitRow {
  uint64_t limit = 0;
  uint64_t remaining = 0;
  uint64_t window_s = 0;
  std::string credential; // which credential the quota belongs to (a name, never a secret)
};

// One upstream registry. Everything but the host is unknown until the upstream's health data
// is connected (Server::fill_upstream_rows).
struct UpstreamRow {
  std::string host;
  std::optional<bool> up;
  std::optional<int64_t> last_check_unix_s;
  std::optional<RateLimitRow> ratelimit;
  std::optional<uint64_t> requests;
  std::optional<uint64_t> errors;
  std::optional<uint64_t> too_many_requests;
};

struct RecentErrorRow {
  int64_t unix_s = 0;
  std::string upstream;
  std::string method;
  std::string path;
  std::optional<uint16_t> status; // the upstream's status, or
  std::string error;              // the failure, when there was no answer
};

struct StatusPageView {
  std::string version;
  int64_t now_unix_s = 0;
  uint64_t uptime_s = 0;
  // Since start.
  uint64_t requests = 0;
  uint64_t lookups = 0;
  uint64_t answered = 0;
  uint64_t cache_bytes = 0;
  std::vector<DayTraffic> days; // newest first
  // Disk.
  uint64_t cache_content_bytes = 0;
  uint64_t cache_entries = 0;
  uint64_t cache_max_bytes = 0; // 0: no cap
  uint64_t min_free_bytes = 0;
  uint64_t fs_free_bytes = 0;
  uint64_t fs_total_bytes = 0;
  std::vector<RankedImage> most_pulled;
  std::vector<RankedImage> largest;
  uint64_t downloads_running = 0;
  std::vector<DownloadRow> downloads;
  std::vector<UpstreamRow> upstreams;
  std::vector<RecentErrorRow> recent_errors;
};

std::string render_status_page(const StatusPageView &view);

// `text` with & < > " ' replaced by entities, safe in element content and quoted attributes.
std::string html_escape(std::string_view text);
// "2026-12-02" for a day number (days since 1970-01-01).
std::string format_day(int64_t day);

} // namespace regcache::registry

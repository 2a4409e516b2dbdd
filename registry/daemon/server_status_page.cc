// Server's status page: the view it is drawn from, gathered from the parts that own each number,
// kept apart from the start-up and worker code in server.cc.
#include <sys/statvfs.h>

#include <algorithm>
#include <chrono>

#include "core/unix_time.h"
#include "registry/config/options.h"
#include "registry/daemon/server.h"
#include "registry/serve/status_page.h"

namespace regcache::registry {
namespace {

// Rows the page shows at most: the page stays small however busy the server is.
constexpr size_t kDownloadRowsMax = 50;
constexpr size_t kImageRowsMax = 10;
constexpr size_t kDayRowsMax = 14;

} // namespace

void Server::fill_upstream_rows(StatusPageView &view) const {
  // One row per configured upstream, in configuration order (upstream_observations() keeps
  // it). "Not checked yet" stays for an upstream nothing has reached: its time is 0.
  for (UpstreamObservation &seen : upstream_observations()) {
    UpstreamRow row;
    row.host = std::move(seen.host);
    if (seen.last_check_unix_s > 0) {
      row.up = seen.up;
      row.last_check_unix_s = seen.last_check_unix_s;
    }
    if (seen.ratelimit) {
      row.ratelimit = RateLimitRow{.limit = seen.ratelimit->limit,
                                   .remaining = seen.ratelimit->remaining,
                                   .window_s = seen.ratelimit->window_s,
                                   .credential = std::move(seen.ratelimit->credential)};
    }
    row.requests = seen.requests;
    row.errors = seen.errors;
    row.too_many_requests = seen.too_many_requests;
    view.upstreams.push_back(std::move(row));
  }
  for (RecentUpstreamError &failure : recent_upstream_errors()) {
    RecentErrorRow row;
    row.unix_s = failure.unix_ms / 1000;
    row.upstream = std::move(failure.upstream);
    row.method = std::move(failure.method);
    row.path = std::move(failure.path);
    if (failure.status != 0)
      row.status = failure.status;
    row.error = std::move(failure.error);
    view.recent_errors.push_back(std::move(row));
  }
}

StatusPageView Server::status_page_view() const {
  StatusPageView view;
  view.version = std::string(kRegcacheVersion);
  view.now_unix_s = core::unix_now_s();
  view.uptime_s = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                            std::chrono::steady_clock::now() - started_at_)
                                            .count());
  const RequestTotals totals = request_totals();
  const DayTraffic since_start = day_traffic_of(totals, 0);
  view.requests = since_start.requests;
  view.lookups = since_start.lookups;
  view.answered = since_start.answered;
  view.cache_bytes = since_start.cache_bytes;
  size_t day_count = 0;
  const auto days =
      traffic_history_.current(totals, unix_day(view.now_unix_s)).newest_first(&day_count);
  view.days.assign(days.begin(),
                   days.begin() + static_cast<ptrdiff_t>(std::min(day_count, kDayRowsMax)));

  const BlobIndex &index = store_.index();
  view.cache_content_bytes = index.content_bytes();
  view.cache_entries = index.count();
  const std::shared_ptr<const ConfigGeneration> generation = running();
  view.cache_max_bytes = generation->config.cache_max_size_bytes;
  struct statvfs fs {};
  if (::fstatvfs(store_.root_fd(), &fs) == 0) {
    view.fs_total_bytes = static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize;
    view.fs_free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  }
  view.min_free_bytes = generation->config.min_free.bytes_of(view.fs_total_bytes);

  view.most_pulled = image_rankings_.most_pulled(kImageRowsMax);
  view.largest = image_rankings_.largest(kImageRowsMax);

  view.downloads_running = fetches_.running();
  for (const FetchSnapshot &fetch : fetches_.snapshots(kDownloadRowsMax)) {
    DownloadRow row;
    row.digest = to_string(fetch.digest);
    row.repository = fetch.repository;
    row.written_bytes = fetch.written_bytes;
    if (fetch.total_known)
      row.total_bytes = fetch.total_bytes;
    row.readers = fetch.readers;
    row.passing_through = fetch.passing_through;
    view.downloads.push_back(std::move(row));
  }
  fill_upstream_rows(view);
  return view;
}

std::string Server::status_page_html() const {
  return render_status_page(status_page_view());
}

} // namespace regcache::registry

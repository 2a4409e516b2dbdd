#include "registry/daemon/service_status.h"

#include <fmt/format.h>

#include "registry/api/byte_size.h"

namespace regcache::registry {

std::string format_status_line(const ServiceSummary &summary) {
  uint64_t lookups = summary.requests.cache_lookups();
  uint64_t answered = summary.requests.cache_answered();
  std::string line =
      lookups == 0
          ? std::string("no requests yet")
          : fmt::format("hit ratio {:.1f}% ({} of {})",
                        100.0 * static_cast<double>(answered) / static_cast<double>(lookups),
                        answered, lookups);
  line += fmt::format(", {} served from cache, {} download{} in flight, cache {}",
                      format_byte_size(summary.requests.bytes_from_cache()),
                      summary.downloads_running, summary.downloads_running == 1 ? "" : "s",
                      format_byte_size(summary.cache_content_bytes));
  if (summary.cache_max_bytes > 0)
    line += fmt::format(" of {}", format_byte_size(summary.cache_max_bytes));
  line += fmt::format(" in {} file{}", summary.cache_blobs, summary.cache_blobs == 1 ? "" : "s");
  return line;
}

} // namespace regcache::registry

#pragma once
// The one-line summary of a running server: systemd's STATUS= (what `systemctl status` shows)
// and, later, the top of the status page. Pure formatting, unit-tested.
#include <cstdint>
#include <string>

#include "registry/serve/request_counters.h"

namespace regcache::registry {

struct ServiceSummary {
  RequestTotals requests;
  uint64_t downloads_running = 0;
  uint64_t cache_content_bytes = 0;
  uint64_t cache_blobs = 0;
  uint64_t cache_max_bytes = 0;
};

// "hit ratio 87.5% (7 of 8), 1.2 GiB served from cache, 1 download in flight, cache 3.4 GiB of
// 32.0 GiB in 120 files". Before any manifest or blob request the ratio reads "no requests yet".
std::string format_status_line(const ServiceSummary &summary);

} // namespace regcache::registry

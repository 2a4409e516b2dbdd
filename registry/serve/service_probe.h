#pragma once
// What a worker may ask of the whole server for the operations endpoints (/metrics, /readyz,
// /_/status): the server implements it (registry/daemon), and a worker only holds the interface, so
// the serve layer needs nothing from above it.
#include <string>

#include "registry/serve/request_counters.h"

namespace regcache::registry {

class ServiceProbe {
public:
  virtual ~ServiceProbe() = default;
  // Every metric in the Prometheus text format.
  virtual std::string metrics_text() const = 0;
  // The request counters summed over every worker (the control endpoints' stats).
  virtual RequestTotals request_totals() const = 0;
  // False with the reason when the server should not be sent traffic.
  virtual bool ready(std::string *why) const = 0;
  // The status page (/_/status), a whole HTML document.
  virtual std::string status_page_html() const = 0;
};

} // namespace regcache::registry

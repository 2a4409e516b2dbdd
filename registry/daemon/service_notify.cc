#include "registry/daemon/service_notify.h"

#include <systemd/sd-daemon.h>

#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <string>

namespace regcache::registry {

ServiceNotifier::ServiceNotifier() {
  const char *socket = std::getenv("NOTIFY_SOCKET");
  enabled_ = socket != nullptr && socket[0] != '\0';
  uint64_t usec = 0;
  // 0 for "unset" as for a watchdog meant for another process (WATCHDOG_PID).
  if (enabled_ && sd_watchdog_enabled(0, &usec) > 0)
    watchdog_usec_ = usec;
}

void ServiceNotifier::send(std::string_view message) {
  if (!enabled_)
    return;
  // sd_notify needs a NUL-terminated string; these are a few per second at most.
  std::string text(message);
  sd_notify(0, text.c_str());
}

void ServiceNotifier::ready(std::string_view status) {
  std::string message = "READY=1\nSTATUS=";
  message += status;
  send(message);
}

void ServiceNotifier::status(std::string_view status) {
  std::string message = "STATUS=";
  message += status;
  send(message);
}

void ServiceNotifier::reloading() {
  // sd_notify(3): RELOADING=1 must come with MONOTONIC_USEC= (CLOCK_MONOTONIC), so that
  // Type=notify-reload systemd (253+) can tell this reload from an older one; READY=1 ends it.
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const uint64_t usec =
      static_cast<uint64_t>(now.tv_sec) * 1'000'000 + static_cast<uint64_t>(now.tv_nsec) / 1000;
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void ServiceNotifier::stopping(std::string_view status) {
  std::string message = "STOPPING=1\nSTATUS=";
  message += status;
  send(message);
}

void ServiceNotifier::watchdog() {
  send("WATCHDOG=1");
}

} // namespace regcache::registry

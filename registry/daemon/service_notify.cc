#include "registry/daemon/service_notify.h"

#include <systemd/sd-daemon.h>

#include <cstdlib>
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
  send("RELOADING=1");
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

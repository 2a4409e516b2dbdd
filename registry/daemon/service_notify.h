#pragma once
// The systemd service protocol (sd_notify(3)): READY=1 once every worker listens, STATUS= with
// the one-line summary, RELOADING=1 and STOPPING=1, and WATCHDOG=1 while every worker still
// answers. Without NOTIFY_SOCKET (not started by systemd as Type=notify) every call does
// nothing, so the daemon behaves the same in a shell, a container or a test.
#include <cstdint>
#include <string_view>

namespace regcache::registry {

class ServiceNotifier {
public:
  ServiceNotifier();
  bool enabled() const { return enabled_; }
  // The watchdog interval systemd asked for (WatchdogSec=), 0 when it did not.
  uint64_t watchdog_usec() const { return watchdog_usec_; }

  void ready(std::string_view status);
  void status(std::string_view status);
  void reloading();
  void stopping(std::string_view status);
  void watchdog();

private:
  void send(std::string_view message);

  bool enabled_ = false;
  uint64_t watchdog_usec_ = 0;
};

} // namespace regcache::registry

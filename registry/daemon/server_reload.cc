// Server::reload: a configuration read again on SIGHUP, validated whole and published as a new
// generation, kept apart from the start-up and worker code in server.cc.
#include <fmt/format.h>

#include "core/unix_time.h"
#include "registry/config/restart_settings.h"
#include "registry/daemon/server.h"

namespace regcache::registry {

ReloadReport Server::refuse_reload(std::string reason) {
  reloads_refused_.fetch_add(1);
  last_reload_unix_s_.store(core::unix_now_s());
  ReloadReport report;
  report.line =
      fmt::format("configuration reload refused, the running configuration stays: {}", reason);
  return report;
}

ReloadReport Server::reload(const ParsedOptions &parsed) {
  switch (parsed.outcome) {
  case ParsedOptions::Outcome::Run:
    break;
  case ParsedOptions::Outcome::Error:
    return refuse_reload(parsed.message);
  case ParsedOptions::Outcome::Help:
  case ParsedOptions::Outcome::Version:
    // The command line has not changed since start, when it asked to run.
    return refuse_reload("the command line does not ask to run");
  }
  const std::shared_ptr<const ConfigGeneration> old = running();
  Config next = parsed.config;
  const std::vector<std::string_view> restart = settings_needing_restart(old->config, next);
  keep_restart_settings(old->config, next);
  std::string error;
  // Slots for the hosts this configuration adds, even if it is refused below: a host keeps its
  // slot for the process's life either way (ObservedHosts).
  std::vector<uint32_t> observed_slots = upstream_observers_->hosts().assign(next);
  std::shared_ptr<const ConfigGeneration> built = build_config_generation(
      std::move(next), old->number + 1, old.get(), std::move(observed_slots), &error);
  if (!built)
    return refuse_reload(error);
  const uint64_t number = built->number;
  generations_.publish(std::move(built));
  reloads_applied_.fetch_add(1);
  last_reload_unix_s_.store(core::unix_now_s());
  ReloadReport report;
  report.applied = true;
  report.line = fmt::format("configuration reloaded (generation {}): new requests use it, "
                            "requests and downloads in progress finish with the one they began",
                            number);
  for (std::string_view option : restart)
    report.line += fmt::format("; --{} needs a restart (the running value stays)", option);
  return report;
}

} // namespace regcache::registry

#include "registry/config/restart_settings.h"

#include <array>

namespace regcache::registry {
namespace {

struct RestartSetting {
  std::string_view option;
  bool (*differs)(const Config &running, const Config &next);
  void (*keep)(const Config &running, Config &next);
};

template <auto Member> constexpr RestartSetting restart_setting(std::string_view option) {
  return RestartSetting{
      option,
      [](const Config &running, const Config &next) { return !(running.*Member == next.*Member); },
      [](const Config &running, Config &next) { next.*Member = running.*Member; }};
}

// Why each one needs a restart. Everything not listed is read per request or per download from
// the generation it started with, and changes live.
constexpr std::array kRestartSettings = {
    // The workers' sockets are bound once, with SO_REUSEPORT, before the threads start.
    restart_setting<&Config::listen_address>("listen"),
    // The store, its index and tmp/ are opened once; downloads in flight write into it.
    restart_setting<&Config::cache_dir>("cache-dir"),
    // The CA is loaded at start and the leaf cache sized then; leaves signed by the old CA
    // would stay in use.
    restart_setting<&Config::ca_dir>("ca-dir"),
    restart_setting<&Config::leaf_certificates_max>("leaf-certificates-max"),
    // One thread and one ring per worker, and the fd budget is divided among them.
    restart_setting<&Config::workers>("workers"),
    // The fd budget (registry/daemon/connection_budget.h): connection caps, pooled and active
    // upstream connections and downloads share the fd limit, planned once at start, and each
    // worker's pipe pool and refusal reports are sized from it.
    restart_setting<&Config::connections_max>("connections-max"),
    restart_setting<&Config::connections_per_client_max>("connections-per-client-max"),
    restart_setting<&Config::upstream_connections_max>("upstream-connections-max"),
    restart_setting<&Config::upstream_active_max>("upstream-active-max"),
    restart_setting<&Config::fetches_max>("fetches-max"),
    // Memory the store sized at start (the manifests and tag entries kept in memory).
    restart_setting<&Config::manifest_memory_bytes>("manifest-memory-bytes"),
    restart_setting<&Config::tags_in_memory_max>("tags-in-memory-max"),
    // The evictor and the scrubber are threads started with these; the download space checks
    // were given the limits at start.
    restart_setting<&Config::cache_max_size_bytes>("cache-max-size"),
    restart_setting<&Config::min_free>("min-free"),
    restart_setting<&Config::scrub_rate>("scrub-rate"),
    // main points stderr at the file and sets the line format once, before anything logs;
    // SIGUSR1 reopens that same file.
    restart_setting<&Config::log_file>("log-file"),
    restart_setting<&Config::log_format>("log-format"),
    // The metrics sockets are bound once, beside the main port's.
    restart_setting<&Config::metrics_listen_address>("metrics-listen"),
};

} // namespace

std::vector<std::string_view> settings_needing_restart(const Config &running, const Config &next) {
  std::vector<std::string_view> changed;
  for (const RestartSetting &setting : kRestartSettings) {
    if (setting.differs(running, next))
      changed.push_back(setting.option);
  }
  return changed;
}

void keep_restart_settings(const Config &running, Config &next) {
  for (const RestartSetting &setting : kRestartSettings)
    setting.keep(running, next);
}

} // namespace regcache::registry

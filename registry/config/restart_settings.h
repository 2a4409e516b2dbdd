#pragma once
// The settings a running regcache cannot change on a reload (SIGHUP): what start() built from
// them (bound sockets, threads, the opened store, the fd budget, pools and memory sized once)
// would have to be torn down with the connections using it. A reload keeps their running
// values and names each one that changed, so the operator knows a restart is needed for it.
#include <string_view>
#include <vector>

#include "registry/config/config.h"

namespace regcache::registry {

// The option names (as --help spells them, without the dashes) of the restart-only settings
// whose value differs between `running` and `next`, in a fixed order.
std::vector<std::string_view> settings_needing_restart(const Config &running, const Config &next);

// Sets every restart-only setting of `next` to its value in `running`, so the rest of `next`
// can be applied to a running process as it is.
void keep_restart_settings(const Config &running, Config &next);

} // namespace regcache::registry

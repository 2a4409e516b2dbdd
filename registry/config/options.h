#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "registry/config/config.h"
#include "registry/config/env_lookup.h"
// For the code that finds parse_listen_address through this header, where it was declared
// before the option table moved to option_table.h; nothing below uses it.
#include "registry/config/listen_address.h"

namespace regcache::registry {

// From the project's version in CMakeLists.txt.
inline constexpr std::string_view kRegcacheVersion = REGCACHE_VERSION;

struct ParsedOptions {
  enum class Outcome : uint8_t { Run, Help, Version, Error } outcome;
  Config config;       // complete when outcome is Run
  std::string message; // Help: the help text; Version: the version line; Error: the reason
  // Run: things worth telling the operator before starting (ignored credsStore, a config file
  // with passwords readable by others, ...), one line each, never containing a secret.
  std::vector<std::string> warnings = {};
};

// What the defaults may depend on. Read once from the process, passed in so tests can supply
// their own.
struct ProcessEnvironment {
  bool is_root;
  std::string_view xdg_cache_home; // empty when unset
  std::string_view home;           // empty when unset
  EnvLookup variables = {};        // the environment variables; empty: none is set
};
ProcessEnvironment current_process_environment();

// /var/cache/regcache for root, else $XDG_CACHE_HOME/regcache (when absolute, as the XDG base
// directory spec requires), else $HOME/.cache/regcache; empty when none applies.
std::string default_cache_dir(const ProcessEnvironment &environment);

// Builds the Config from, highest precedence first: the command line, the environment
// (REGCACHE_<OPTION>, docker-registry-proxy's REGISTRIES/AUTH_REGISTRIES, Azure's AZURE_*), the
// JSON config file (--config or REGCACHE_CONFIG), the Docker config.json (--docker-config,
// credentials only), and Config's defaults. argv[0] is the program name and is skipped.
// Accepts "--opt value" and "--opt=value"; the last occurrence of an option wins. Stops at the
// first error, whose message is one line naming where the bad value came from (the option, the
// variable, or the file and key) and never containing a password; main prints it and exits 2.
ParsedOptions parse_options(std::span<const char *const> argv);
ParsedOptions parse_options(std::span<const char *const> argv,
                            const ProcessEnvironment &environment);

// Every option with its default and environment variable, the compatibility aliases, the other
// environment variables and the config file's keys, generated from the option table.
std::string help_text();

} // namespace regcache::registry

#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "registry/config.h"

namespace regcache::registry {

inline constexpr std::string_view kRegcacheVersion = "0.1.0";

struct ParsedOptions {
  enum class Outcome : uint8_t { Run, Help, Version, Error } outcome;
  Config config;       // complete when outcome is Run
  std::string message; // Help: the help text; Version: the version line; Error: the reason
};

// What the defaults may depend on. Read once from the process, passed in so tests (and a later
// environment/config-file layer) can supply their own.
struct ProcessEnvironment {
  bool is_root;
  std::string_view xdg_cache_home; // empty when unset
  std::string_view home;           // empty when unset
};
ProcessEnvironment current_process_environment();

// /var/cache/regcache for root, else $XDG_CACHE_HOME/regcache (when absolute, as the XDG base
// directory spec requires), else $HOME/.cache/regcache; empty when none applies.
std::string default_cache_dir(const ProcessEnvironment &environment);

// Parses the command line; argv[0] is the program name and is skipped. Accepts "--opt value"
// and "--opt=value"; the last occurrence of an option wins. Stops at the first error, whose
// message is one line naming the option and the bad value (main prints it and exits 2).
ParsedOptions parse_options(std::span<const char *const> argv);
ParsedOptions parse_options(std::span<const char *const> argv,
                            const ProcessEnvironment &environment);

// Every option with its default, generated from the same table parse_options uses.
std::string help_text();

// host and port of a --listen value, "IPv4:port" or "[IPv6]:port"; host is a view into the
// text, without brackets.
struct ListenAddress {
  std::string_view host;
  uint16_t port;
  bool is_ipv6;
};
std::optional<ListenAddress> parse_listen_address(std::string_view text);

} // namespace regcache::registry

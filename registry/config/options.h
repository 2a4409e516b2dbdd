#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "registry/config/config.h"
#include "registry/config/env_lookup.h"

namespace regcache::registry {

inline constexpr std::string_view kRegcacheVersion = "0.1.0";

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

// host and port of a --listen value, "IPv4:port" or "[IPv6]:port"; host is a view into the
// text, without brackets.
struct ListenAddress {
  std::string_view host;
  uint16_t port;
  bool is_ipv6;
};
std::optional<ListenAddress> parse_listen_address(std::string_view text);

// --- The option table, shared by the three layers -----------------------------------------

enum class OptionValueKind : uint8_t {
  Flag,             // no value on the command line; a boolean in the environment and the file
  Path,             // a non-empty path
  ListenAddress,    // see parse_listen_address
  Upstream,         // the default upstream's URL
  AcrDomain,        // host[:port]: the default upstream becomes https://HOST of kind acr
  UpstreamKind,     // "registry" or "acr", the default upstream's kind
  RepositoryPrefix, // the default upstream's repository prefix; empty: none
  Count32,
  Count64,
};

// One option. Parsing (all layers) and --help walk the same table, so an option cannot be
// parsed without being documented, and its default is read from Config's initializers. At most
// one field pointer is set, the one matching `kind`; the default-upstream kinds have none.
struct OptionSpec {
  std::string_view name; // without the leading "--"
  OptionValueKind kind = OptionValueKind::Flag;
  std::string_view value_name; // shown in --help; empty for flags
  std::string_view help;
  bool Config::*flag_field = nullptr;
  bool flag_sets = true; // the value the flag stores
  std::string Config::*text_field = nullptr;
  uint32_t Config::*count32_field = nullptr;
  uint64_t Config::*count64_field = nullptr;
  uint64_t count_min = 0;             // 1 where zero means nothing useful
  std::string_view default_text = {}; // for defaults Config cannot hold
  // acr-cache-proxy's flag names: command line only, listed apart in --help.
  bool command_line_only = false;
  bool in_config_file = true; // false for --config itself
};

std::span<const OptionSpec> option_table();
const OptionSpec *find_option(std::string_view name);

// REGCACHE_ and the name in upper snake case ("REGCACHE_UPSTREAM_READ_TIMEOUT_MS"); empty for
// command-line-only options.
std::string option_environment_variable(const OptionSpec &spec);
// The name in snake case ("upstream_read_timeout_ms"); empty when the file cannot set it.
std::string option_file_key(const OptionSpec &spec);

// Stores a value given as text into `config`. On failure returns false and sets `problem` to a
// phrase that quotes the value but not the option ("expected a whole number, got 'abc'"); the
// caller puts the source in front. `spec` must not be a flag.
bool apply_option_text(const OptionSpec &spec, std::string_view value, Config &config,
                       std::string *problem);
// Sets a flag on (as on the command line) or off (the environment or the file saying false).
void apply_option_flag(const OptionSpec &spec, bool on, Config &config);

// The routing key of an upstream at `url`: its authority, or "docker.io" for Docker Hub.
std::string upstream_routing_host(const UpstreamUrl &url);

// An upstream for a bare host[:port] (REGISTRIES, a config-file entry without "url"): https, and
// for Docker Hub's names the host "docker.io" at https://registry-1.docker.io. nullopt (and
// `error` set, quoting the text) when it is not a host[:port].
std::optional<UpstreamConfig> upstream_for_host(std::string_view text, std::string *error);

} // namespace regcache::registry

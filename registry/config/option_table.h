#pragma once
// The option table, shared by the three layers that set options (the command line, the
// environment's REGCACHE_<OPTION> and the config file's keys) and by --help, and how a value
// given as text is stored into the Config.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "registry/config/config.h"

namespace regcache::registry {

enum class OptionValueKind : uint8_t {
  Flag,             // no value on the command line; a boolean in the environment and the file
  Path,             // a non-empty path
  ListenAddress,    // see parse_listen_address
  Upstream,         // the default upstream's URL
  AcrDomain,        // host[:port]: the default upstream becomes https://HOST of kind acr
  UpstreamKind,     // "registry" or "acr", the default upstream's kind
  RepositoryPrefix, // the default upstream's repository prefix; empty: none
  Registries,       // see parse_registry_policy
  InterceptHosts,   // intercept_hosts: parse_registry_policy's syntax
  ClientNetworks,   // see parse_client_networks
  Clients,          // the default upstream's ClientPolicy, see parse_client_policy
  ControlUsers,     // control_users: none, authenticated, or user names (parse_client_policy)
  Count32,
  Count64,
  ByteSize,      // an nginx size ("32g", "500m", bytes) into count64_field
  SpaceFloor,    // min_free: a percentage ("5%") or an nginx size
  ScrubRate,     // scrub_rate: auto, off, or an nginx size per second
  LogFormat,     // log_format: text or json
  UpstreamProxy, // upstream_proxy: http://[user:password@]host[:port], or none
  NoProxy,       // upstream_proxy.no_proxy: see http::NoProxyList
  PortList,      // tunnel_ports: any, or ports and ranges (parse_port_list)
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

} // namespace regcache::registry

#include "registry/config/options.h"

#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

#include "registry/config/acr_override.h"
#include "registry/config/config_file.h"
#include "registry/config/credentials.h"
#include "registry/config/docker_config.h"
#include "registry/config/env_config.h"
#include "registry/config/option_table.h"

namespace regcache::registry {

namespace {

using Kind = OptionValueKind;

ParsedOptions error(std::string message) {
  return {ParsedOptions::Outcome::Error, Config{}, std::move(message)};
}

// One option as the command line gave it; `value` views argv.
struct CommandLineValue {
  const OptionSpec *spec;
  std::string_view value; // empty for flags
};

struct CommandLine {
  std::vector<CommandLineValue> values;
  std::optional<ParsedOptions::Outcome> early_outcome; // Help or Version
  std::string error;                                   // non-empty: the first error
};

// The syntax of the command line: which options, with which values. Values are checked when
// applied (apply_command_line).
CommandLine read_command_line(std::span<const char *const> argv) {
  CommandLine command_line;
  // Bounded by argc; an option taking the next argument advances the index twice.
  for (size_t index = 1; index < argv.size(); ++index) {
    assert(argv[index] != nullptr);
    const std::string_view argument = argv[index];
    if (argument == "-h" || argument == "--help") {
      command_line.early_outcome = ParsedOptions::Outcome::Help;
      return command_line;
    }
    if (argument == "-V" || argument == "--version") {
      command_line.early_outcome = ParsedOptions::Outcome::Version;
      return command_line;
    }
    if (!argument.starts_with("--") || argument == "--") {
      command_line.error = "unexpected argument '" + std::string(argument) + "' (see --help)";
      return command_line;
    }
    const size_t equals = argument.find('=');
    const std::string_view name =
        argument.substr(2, equals == std::string_view::npos ? std::string_view::npos : equals - 2);
    const OptionSpec *spec = find_option(name);
    if (spec == nullptr) {
      command_line.error = "unknown option '--" + std::string(name) + "' (see --help)";
      return command_line;
    }
    if (spec->kind == Kind::Flag) {
      if (equals != std::string_view::npos) {
        command_line.error = "--" + std::string(name) + " takes no value, got '" +
                             std::string(argument.substr(equals + 1)) + "'";
        return command_line;
      }
      command_line.values.push_back({spec, {}});
      continue;
    }
    std::string_view value;
    if (equals != std::string_view::npos) {
      value = argument.substr(equals + 1);
    } else {
      // "--cache-dir --workers 2" is a forgotten value, not a directory named "--workers";
      // such a value can still be given as --cache-dir=--workers.
      if (index + 1 >= argv.size() || std::string_view(argv[index + 1]).starts_with("--")) {
        command_line.error =
            "--" + std::string(name) + ": missing value " + std::string(spec->value_name);
        return command_line;
      }
      value = argv[++index];
    }
    command_line.values.push_back({spec, value});
  }
  return command_line;
}

bool apply_command_line(const CommandLine &command_line, Config &config, std::string *error) {
  for (const CommandLineValue &value : command_line.values) {
    if (value.spec->kind == Kind::Flag) {
      apply_option_flag(*value.spec, true, config);
      continue;
    }
    std::string problem;
    if (!apply_option_text(*value.spec, value.value, config, &problem)) {
      *error = "--" + std::string(value.spec->name) + ": " + problem;
      return false;
    }
  }
  return true;
}

bool has_upstream_host(const Config &config, std::string_view host) {
  return std::any_of(config.upstreams.begin(), config.upstreams.end(),
                     [&](const UpstreamConfig &upstream) { return upstream.host == host; });
}

// Builds the upstream table and the credential list once every layer has spoken.
bool finish_config(Config &config, const ConfigFileLayer &file, const EnvLayer &environment,
                   std::vector<std::string> &warnings, std::string *error) {
  assert(config.upstreams.size() == 1 && "only the default upstream before the merge");
  // ACR identity: defaults < the file's top-level "acr" < AZURE_* / REGCACHE_ACR_*; an extra
  // upstream's own "acr" entries are more specific still.
  AcrSettings acr;
  apply_acr_overrides(file.acr, acr);
  apply_acr_overrides(environment.acr, acr);

  UpstreamConfig &default_upstream = config.upstreams.front();
  default_upstream.acr = acr;
  default_upstream.insecure = config.insecure_upstream;
  default_upstream.ca_file = config.upstream_ca_file;

  for (const ConfigFileUpstream &entry : file.upstreams) {
    if (has_upstream_host(config, entry.upstream.host)) {
      *error = config.config_file + ": key \"" + entry.origin + ".host\": '" + entry.upstream.host +
               "' is the default upstream; set it with \"upstream\", not in \"upstreams\"";
      return false;
    }
    UpstreamConfig upstream = entry.upstream;
    upstream.acr = acr;
    apply_acr_overrides(entry.acr, upstream.acr);
    config.upstreams.push_back(std::move(upstream));
  }
  // REGISTRIES only asks for a host to be cached: one configured already is left as it is.
  for (const UpstreamConfig &registry : environment.registries) {
    if (has_upstream_host(config, registry.host))
      continue;
    UpstreamConfig upstream = registry;
    upstream.acr = acr;
    config.upstreams.push_back(std::move(upstream));
  }

  // Credentials: AUTH_REGISTRIES > the config file > the Docker config.json.
  config.credentials = environment.credentials;
  add_missing_credentials(config.credentials, file.credentials);
  if (!config.docker_config_file.empty()) {
    std::vector<HostCredentials> imported;
    if (!load_docker_config(config.docker_config_file, imported, warnings, error))
      return false;
    add_missing_credentials(config.credentials, imported);
  }
  // An upstream for known users only needs users to know.
  for (const UpstreamConfig &upstream : config.upstreams) {
    if (upstream.clients.kind != ClientPolicy::Kind::Any && config.htpasswd_file.empty()) {
      *error = "upstream " + upstream.host + " admits only authenticated clients: give " +
               "--htpasswd FILE with their users";
      return false;
    }
  }
  // Credentials go over plain HTTP only to an upstream the operator configured as http://;
  // say so, since anyone on the path can read them.
  for (const UpstreamConfig &upstream : config.upstreams) {
    if (!upstream.url.tls && (find_credentials(config.credentials, upstream.url.authority()) ||
                              find_credentials(config.credentials, upstream.host))) {
      warnings.push_back("upstream " + upstream.url.url() +
                         " is plain HTTP: its credentials are sent unencrypted");
    }
  }

  if (config.cache_dir.empty()) {
    *error = "--cache-dir: no default (not root, and neither XDG_CACHE_HOME nor HOME is an "
             "absolute path); give one";
    return false;
  }
  // Beside the cache unless given: a cache directory moved or mounted elsewhere keeps its CA,
  // so the clients that trust it need nothing new.
  if (config.ca_dir.empty())
    config.ca_dir = config.cache_dir + "/ca";
  return true;
}

} // namespace

ProcessEnvironment current_process_environment() {
  const char *xdg_cache_home = std::getenv("XDG_CACHE_HOME");
  const char *home = std::getenv("HOME");
  return {geteuid() == 0, xdg_cache_home != nullptr ? xdg_cache_home : "",
          home != nullptr ? home : "", process_environment_lookup()};
}

std::string default_cache_dir(const ProcessEnvironment &environment) {
  if (environment.is_root)
    return "/var/cache/regcache";
  if (environment.xdg_cache_home.starts_with('/')) {
    return std::string(environment.xdg_cache_home) + "/regcache";
  }
  if (environment.home.starts_with('/'))
    return std::string(environment.home) + "/.cache/regcache";
  return {};
}

ParsedOptions parse_options(std::span<const char *const> argv) {
  return parse_options(argv, current_process_environment());
}

ParsedOptions parse_options(std::span<const char *const> argv,
                            const ProcessEnvironment &environment) {
  const CommandLine command_line = read_command_line(argv);
  if (!command_line.error.empty())
    return error(command_line.error);
  if (command_line.early_outcome == ParsedOptions::Outcome::Help)
    return {ParsedOptions::Outcome::Help, Config{}, help_text()};
  if (command_line.early_outcome == ParsedOptions::Outcome::Version) {
    return {ParsedOptions::Outcome::Version, Config{}, "regcache " + std::string(kRegcacheVersion)};
  }
  std::string message;
  // The command line's values are checked first: its mistakes are the ones just typed.
  Config scratch;
  if (!apply_command_line(command_line, scratch, &message))
    return error(std::move(message));

  const EnvLookup no_variables = [](std::string_view) -> std::optional<std::string_view> {
    return std::nullopt;
  };
  const EnvLookup &lookup = environment.variables ? environment.variables : no_variables;

  Config config;
  config.cache_dir = default_cache_dir(environment);
  ParsedOptions parsed{ParsedOptions::Outcome::Run, {}, {}};

  // Which file: the command line's --config, else REGCACHE_CONFIG.
  std::string config_path = scratch.config_file;
  if (config_path.empty()) {
    const std::optional<std::string_view> variable = lookup("REGCACHE_CONFIG");
    if (variable)
      config_path = std::string(*variable);
  }
  ConfigFileLayer file;
  if (!config_path.empty()) {
    config.config_file = config_path;
    if (!apply_config_file(config_path, config, file, &message))
      return error(std::move(message));
  }
  EnvLayer environment_layer;
  if (!apply_environment(lookup, config, environment_layer, &message))
    return error(std::move(message));
  if (!apply_command_line(command_line, config, &message))
    return error(std::move(message));
  // The file read is the one named above whatever the layers said after it.
  config.config_file = config_path;

  parsed.warnings = file.warnings;
  parsed.warnings.insert(parsed.warnings.end(), environment_layer.warnings.begin(),
                         environment_layer.warnings.end());
  if (!finish_config(config, file, environment_layer, parsed.warnings, &message))
    return error(std::move(message));
  parsed.config = std::move(config);
  return parsed;
}

} // namespace regcache::registry

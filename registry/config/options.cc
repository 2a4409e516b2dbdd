#include "registry/config/options.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>

#include "registry/api/name_grammar.h"
#include "registry/config/acr_override.h"
#include "registry/config/config_file.h"
#include "registry/config/credentials.h"
#include "registry/config/docker_config.h"
#include "registry/config/env_config.h"

namespace regcache::registry {

namespace {

static_assert(std::is_same_v<unsigned, uint32_t>, "workers is parsed as a uint32_t option");

using Kind = OptionValueKind;

constexpr OptionSpec flag_option(std::string_view name, bool Config::*field, bool sets,
                                 std::string_view help) {
  OptionSpec spec;
  spec.name = name;
  spec.kind = Kind::Flag;
  spec.flag_field = field;
  spec.flag_sets = sets;
  spec.help = help;
  return spec;
}

constexpr OptionSpec text_option(std::string_view name, Kind kind, std::string_view value_name,
                                 std::string Config::*field, std::string_view help,
                                 std::string_view default_text = {}) {
  OptionSpec spec;
  spec.name = name;
  spec.kind = kind;
  spec.value_name = value_name;
  spec.text_field = field;
  spec.help = help;
  spec.default_text = default_text;
  return spec;
}

// An option that sets part of the default upstream, upstreams[0].
constexpr OptionSpec upstream_option(std::string_view name, Kind kind, std::string_view value_name,
                                     std::string_view help, std::string_view default_text = {}) {
  OptionSpec spec;
  spec.name = name;
  spec.kind = kind;
  spec.value_name = value_name;
  spec.help = help;
  spec.default_text = default_text;
  return spec;
}

constexpr OptionSpec count32_option(std::string_view name, std::string_view value_name,
                                    uint32_t Config::*field, uint64_t min, std::string_view help) {
  OptionSpec spec;
  spec.name = name;
  spec.kind = Kind::Count32;
  spec.value_name = value_name;
  spec.count32_field = field;
  spec.count_min = min;
  spec.help = help;
  return spec;
}

constexpr OptionSpec count64_option(std::string_view name, std::string_view value_name,
                                    uint64_t Config::*field, uint64_t min, std::string_view help) {
  OptionSpec spec;
  spec.name = name;
  spec.kind = Kind::Count64;
  spec.value_name = value_name;
  spec.count64_field = field;
  spec.count_min = min;
  spec.help = help;
  return spec;
}

constexpr OptionSpec command_line_alias(OptionSpec spec) {
  spec.command_line_only = true;
  spec.in_config_file = false;
  return spec;
}

constexpr OptionSpec not_in_config_file(OptionSpec spec) {
  spec.in_config_file = false;
  return spec;
}

// In --help order; the command-line-only aliases last.
constexpr std::array kOptions = {
    text_option("listen", Kind::ListenAddress, "ADDR", &Config::listen_address,
                "address to listen on, IPv4:port or [IPv6]:port"),
    upstream_option("upstream", Kind::Upstream, "URL",
                    "default upstream registry, http(s)://host[:port]"),
    upstream_option("upstream-kind", Kind::UpstreamKind, "KIND",
                    "the default upstream's kind: registry, or acr (Azure Container Registry "
                    "with an Entra ID identity, see AZURE_* below)"),
    upstream_option("upstream-prefix", Kind::RepositoryPrefix, "PREFIX",
                    "repository prefix added upstream, as an ACR cache rule's target "
                    "(name -> PREFIX/name)",
                    "none"),
    text_option("cache-dir", Kind::Path, "DIR", &Config::cache_dir,
                "directory for cached blobs, manifests and tags",
                "/var/cache/regcache as root, else $XDG_CACHE_HOME/regcache or "
                "$HOME/.cache/regcache"),
    count32_option("workers", "N", &Config::workers, 0,
                   "worker threads, each with its own ring; 0: one per core"),
    flag_option("insecure-upstream", &Config::insecure_upstream, true,
                "do not verify the default upstream's TLS certificate"),
    text_option("upstream-ca-file", Kind::Path, "FILE", &Config::upstream_ca_file,
                "PEM file of CAs to trust for the upstreams", "the system trust store"),
    count32_option("header-timeout-ms", "MS", &Config::header_timeout_ms, 1,
                   "time a client has to send a request's headers"),
    count32_option("idle-timeout-ms", "MS", &Config::idle_timeout_ms, 1,
                   "time an idle client connection is kept open"),
    count32_option("upstream-connect-timeout-ms", "MS", &Config::upstream_connect_timeout_ms, 1,
                   "time to connect to the upstream (TCP and TLS)"),
    count32_option("upstream-read-timeout-ms", "MS", &Config::upstream_read_timeout_ms, 1,
                   "time the upstream may stay silent during a response"),
    count32_option("shutdown-grace-ms", "MS", &Config::shutdown_grace_ms, 0,
                   "time given to requests in progress on shutdown; 0: none"),
    count32_option("connections-max", "N", &Config::connections_max, 1,
                   "client connections per worker"),
    count32_option("upstream-connections-max", "N", &Config::upstream_connections_max, 0,
                   "idle pooled connections per upstream per worker; 0: no pooling"),
    count64_option("manifest-bytes-max", "BYTES", &Config::manifest_bytes_max, 1,
                   "largest manifest accepted from the upstream"),
    flag_option("no-access-log", &Config::access_log, false,
                "do not write one line per request to stderr"),
    not_in_config_file(text_option("config", Kind::Path, "FILE", &Config::config_file,
                                   "JSON config file (keys: see below)", "none")),
    text_option("docker-config", Kind::Path, "FILE", &Config::docker_config_file,
                "a Docker config.json whose \"auths\" give upstream credentials (credsStore and "
                "credHelpers are not run; ~/.docker/config.json is not read unless named here)",
                "none"),
    command_line_alias(text_option("listen-address", Kind::ListenAddress, "ADDR",
                                   &Config::listen_address, "same as --listen")),
    command_line_alias(upstream_option("upstream-domain", Kind::AcrDomain, "HOST",
                                       "same as --upstream https://HOST --upstream-kind acr")),
};

std::string quoted(std::string_view value) {
  std::string text("'");
  text.append(value).append("'");
  return text;
}

// Digits only: from_chars alone would accept a leading '-' for signed types and stop at the
// first non-digit, so "12abc" must be refused here.
bool parse_count(const OptionSpec &spec, std::string_view value, uint64_t max, uint64_t *out,
                 std::string *problem) {
  if (value.empty() || value.find_first_not_of("0123456789") != std::string_view::npos) {
    *problem = "expected a whole number, got " + quoted(value);
    return false;
  }
  uint64_t parsed = 0;
  const auto [end, status] = std::from_chars(value.data(), value.data() + value.size(), parsed);
  if (status != std::errc{} || end != value.data() + value.size() || parsed > max) {
    *problem = "value out of range (max " + std::to_string(max) + "): " + quoted(value);
    return false;
  }
  if (parsed < spec.count_min) {
    *problem = "must be at least " + std::to_string(spec.count_min) + ", got " + quoted(value);
    return false;
  }
  *out = parsed;
  return true;
}

void set_default_upstream_url(Config &config, UpstreamUrl url) {
  assert(!config.upstreams.empty());
  UpstreamConfig &upstream = config.upstreams.front();
  upstream.host = upstream_routing_host(url);
  upstream.url = std::move(url);
}

std::string upper_snake(std::string_view name) {
  std::string text;
  text.reserve(name.size());
  for (char c : name)
    text.push_back(c == '-' ? '_' : static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c));
  return text;
}

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
  config.upstream = default_upstream.url;

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

  if (config.cache_dir.empty()) {
    *error = "--cache-dir: no default (not root, and neither XDG_CACHE_HOME nor HOME is an "
             "absolute path); give one";
    return false;
  }
  return true;
}

} // namespace

std::span<const OptionSpec> option_table() {
  return kOptions;
}

const OptionSpec *find_option(std::string_view name) {
  for (const OptionSpec &spec : kOptions) {
    if (spec.name == name)
      return &spec;
  }
  return nullptr;
}

std::string option_environment_variable(const OptionSpec &spec) {
  if (spec.command_line_only)
    return {};
  return "REGCACHE_" + upper_snake(spec.name);
}

std::string option_file_key(const OptionSpec &spec) {
  if (!spec.in_config_file)
    return {};
  std::string key(spec.name);
  std::replace(key.begin(), key.end(), '-', '_');
  return key;
}

bool apply_option_text(const OptionSpec &spec, std::string_view value, Config &config,
                       std::string *problem) {
  switch (spec.kind) {
  case Kind::Flag:
    assert(false && "flags take no value");
    return false;
  case Kind::Path:
    if (value.empty()) {
      *problem = "expected a path, got ''";
      return false;
    }
    config.*spec.text_field = std::string(value);
    return true;
  case Kind::ListenAddress:
    if (!parse_listen_address(value)) {
      *problem = "expected IPv4:port or [IPv6]:port (port 1-65535), got " + quoted(value);
      return false;
    }
    config.*spec.text_field = std::string(value);
    return true;
  case Kind::Upstream: {
    std::optional<UpstreamUrl> url = parse_upstream_url(value, problem);
    if (!url)
      return false;
    set_default_upstream_url(config, std::move(*url));
    return true;
  }
  case Kind::AcrDomain: {
    std::optional<UpstreamUrl> url;
    if (value.find("://") == std::string_view::npos)
      url = parse_upstream_url("https://" + std::string(value), nullptr);
    if (!url) {
      *problem = "expected a host name, host:port, got " + quoted(value);
      return false;
    }
    set_default_upstream_url(config, std::move(*url));
    config.upstreams.front().kind = UpstreamKind::Acr;
    return true;
  }
  case Kind::UpstreamKind:
    if (value == "registry") {
      config.upstreams.front().kind = UpstreamKind::Registry;
    } else if (value == "acr") {
      config.upstreams.front().kind = UpstreamKind::Acr;
    } else {
      *problem = "expected registry or acr, got " + quoted(value);
      return false;
    }
    return true;
  case Kind::RepositoryPrefix:
    if (!value.empty() && !is_valid_repository_name(value)) {
      *problem = "expected repository path components without leading or trailing '/', got " +
                 quoted(value);
      return false;
    }
    config.upstreams.front().prefix = std::string(value);
    return true;
  case Kind::Count32: {
    uint64_t parsed = 0;
    if (!parse_count(spec, value, std::numeric_limits<uint32_t>::max(), &parsed, problem))
      return false;
    config.*spec.count32_field = static_cast<uint32_t>(parsed);
    return true;
  }
  case Kind::Count64: {
    uint64_t parsed = 0;
    if (!parse_count(spec, value, std::numeric_limits<uint64_t>::max(), &parsed, problem))
      return false;
    config.*spec.count64_field = parsed;
    return true;
  }
  }
  assert(false && "OptionValueKind out of range");
  return false;
}

void apply_option_flag(const OptionSpec &spec, bool on, Config &config) {
  assert(spec.kind == Kind::Flag);
  config.*spec.flag_field = on ? spec.flag_sets : !spec.flag_sets;
}

std::string upstream_routing_host(const UpstreamUrl &url) {
  return is_docker_hub(url) ? std::string(kDockerHubHost) : url.authority();
}

std::optional<UpstreamConfig> upstream_for_host(std::string_view text, std::string *error) {
  std::optional<UpstreamUrl> url;
  if (text.find("://") == std::string_view::npos && text.find('/') == std::string_view::npos)
    url = parse_upstream_url("https://" + std::string(text), nullptr);
  if (!url) {
    if (error != nullptr)
      *error = "expected a host name or host:port, got " + quoted(text);
    return std::nullopt;
  }
  UpstreamConfig upstream;
  upstream.host = upstream_routing_host(*url);
  upstream.url = is_docker_hub(*url) ? kDockerHubUrl : std::move(*url);
  return upstream;
}

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

std::optional<ListenAddress> parse_listen_address(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return std::nullopt;
  const std::optional<uint16_t> port = parse_port(text.substr(colon + 1));
  if (!port)
    return std::nullopt;
  const std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    const std::string_view inner = host.substr(1, host.size() - 2);
    if (!is_valid_ipv6(inner))
      return std::nullopt;
    return ListenAddress{inner, *port, true};
  }
  // Binding needs an address; resolving a name here would be I/O.
  if (!is_valid_ipv4(host))
    return std::nullopt;
  return ListenAddress{host, *port, false};
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

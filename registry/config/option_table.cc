#include "registry/config/option_table.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <charconv>
#include <limits>
#include <optional>
#include <type_traits>
#include <utility>

#include "registry/api/name_grammar.h"
#include "registry/api/upstream_url.h"
#include "registry/config/listen_address.h"
#include "registry/config/upstream_host.h"

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

} // namespace regcache::registry

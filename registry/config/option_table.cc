#include "registry/config/option_table.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <charconv>
#include <limits>
#include <optional>
#include <type_traits>
#include <utility>

#include "http/message_head.h"
#include "registry/api/byte_size.h"
#include "registry/api/client_networks.h"
#include "registry/api/client_policy.h"
#include "registry/api/name_grammar.h"
#include "registry/api/port_list.h"
#include "registry/api/registry_policy.h"
#include "registry/api/upstream_proxy_url.h"
#include "registry/api/upstream_url.h"
#include "registry/config/listen_address.h"
#include "registry/config/upstream_host.h"

namespace regcache::registry {

namespace {

static_assert(std::is_same_v<unsigned, uint32_t>, "workers is parsed as a uint32_t option");

using Kind = OptionValueKind;

// In --help order; the command-line-only aliases last. Each entry sets only the fields its kind
// uses; OptionSpec's initializers give the rest.
constexpr std::array kOptions = {
    OptionSpec{.name = "listen",
               .kind = Kind::ListenAddress,
               .value_name = "ADDR",
               .help = "address to listen on, IPv4:port or [IPv6]:port",
               .text_field = &Config::listen_address},
    // The default-upstream kinds set part of upstreams[0] and have no field.
    OptionSpec{.name = "upstream",
               .kind = Kind::Upstream,
               .value_name = "URL",
               .help = "default upstream registry, http(s)://host[:port]"},
    OptionSpec{.name = "upstream-kind",
               .kind = Kind::UpstreamKind,
               .value_name = "KIND",
               .help = "the default upstream's kind: registry, or acr (Azure Container Registry "
                       "with an Entra ID identity, see AZURE_* below)"},
    OptionSpec{.name = "upstream-prefix",
               .kind = Kind::RepositoryPrefix,
               .value_name = "PREFIX",
               .help = "repository prefix added upstream, as an ACR cache rule's target "
                       "(name -> PREFIX/name)",
               .default_text = "none"},
    OptionSpec{.name = "registries",
               .kind = Kind::Registries,
               .value_name = "LIST",
               .help = "registries clients may name with ?ns= besides the configured upstreams: "
                       "any, configured, or hosts and *.wildcards separated by commas (an "
                       "unconfigured host is only reached at a public address)",
               .default_text = "any"},
    OptionSpec{.name = "no-proxy-mode",
               .kind = Kind::Flag,
               .help = "serve the mirror API only: CONNECT requests (HTTPS_PROXY clients) are "
                       "refused with 405",
               .flag_field = &Config::proxy_mode,
               .flag_sets = false},
    OptionSpec{.name = "intercept-hosts",
               .kind = Kind::InterceptHosts,
               .value_name = "LIST",
               .help = "hosts whose CONNECTs are intercepted and cached besides the configured "
                       "upstreams and credential hosts: configured (none more), any, or hosts and "
                       "*.wildcards separated by commas; other hosts are tunnelled. The default "
                       "is docker-registry-proxy's: registry-1.docker.io, auth.docker.io, "
                       "registry.k8s.io, gcr.io, quay.io, ghcr.io",
               .default_text = "docker-registry-proxy's hosts"},
    OptionSpec{.name = "tls-handshake-timeout-ms",
               .kind = Kind::Count32,
               .value_name = "MS",
               .help = "time a proxy client has to finish its TLS handshake with regcache",
               .count32_field = &Config::tls_handshake_timeout_ms,
               .count_min = 1},
    OptionSpec{.name = "allow-clients",
               .kind = Kind::ClientNetworks,
               .value_name = "CIDRS",
               .help = "client addresses that may connect: all, or CIDR blocks separated by "
                       "commas (10.0.0.0/8,fd00::/8); others get 403",
               .default_text = "all"},
    OptionSpec{.name = "htpasswd",
               .kind = Kind::Path,
               .value_name = "FILE",
               .help = "users who may log in to regcache (htpasswd -B or -s entries); clients "
                       "authenticate with Basic or regcache's token endpoint /v2/token",
               .text_field = &Config::htpasswd_file},
    OptionSpec{.name = "proxy-users",
               .kind = Kind::Path,
               .value_name = "FILE",
               .help = "users who may use regcache as a proxy (htpasswd -B or -s entries): "
                       "CONNECT and absolute-form requests need Proxy-Authorization: Basic",
               .text_field = &Config::proxy_users_file,
               .default_text = "anyone --allow-clients admits"},
    OptionSpec{.name = "tunnel-ports",
               .kind = Kind::PortList,
               .value_name = "LIST",
               .help = "ports CONNECT tunnels may reach: any, or ports and ranges separated by "
                       "commas (443,5000-5999); others get 403",
               .default_text = "443 and the configured upstreams' ports"},
    OptionSpec{.name = "tunnels-max",
               .kind = Kind::Count32,
               .value_name = "N",
               .help = "CONNECT tunnels open per worker; past it, 503 with Retry-After",
               .count32_field = &Config::tunnels_max,
               .count_min = 1},
    OptionSpec{.name = "tunnel-connect-timeout-ms",
               .kind = Kind::Count32,
               .value_name = "MS",
               .help = "time a CONNECT tunnel has to reach its destination; past it, 504",
               .count32_field = &Config::tunnel_connect_timeout_ms,
               .count_min = 1},
    OptionSpec{.name = "tunnel-idle-timeout-ms",
               .kind = Kind::Count32,
               .value_name = "MS",
               .help = "a CONNECT tunnel with no byte either way for this long is closed",
               .count32_field = &Config::tunnel_idle_timeout_ms,
               .count_min = 1},
    OptionSpec{.name = "tunnel-max-ms",
               .kind = Kind::Count32,
               .value_name = "MS",
               .help = "longest a CONNECT tunnel lives, busy or not",
               .count32_field = &Config::tunnel_max_ms,
               .count_min = 1},
    OptionSpec{.name = "clients",
               .kind = Kind::Clients,
               .value_name = "WHO",
               .help = "who may pull through the default upstream and unconfigured registries: "
                       "any, authenticated, or user names separated by commas",
               .default_text = "any"},
    OptionSpec{.name = "control-users",
               .kind = Kind::ControlUsers,
               .value_name = "WHO",
               .help = "who may use the control endpoints (/_/control/, regcachectl) from an "
                       "address that is not loopback: none, authenticated, or --htpasswd user "
                       "names separated by commas; loopback clients always may",
               .default_text = "none"},
    OptionSpec{.name = "cache-dir",
               .kind = Kind::Path,
               .value_name = "DIR",
               .help = "directory for cached blobs, manifests and tags",
               .text_field = &Config::cache_dir,
               .default_text = "/var/cache/regcache as root, else $XDG_CACHE_HOME/regcache or "
                               "$HOME/.cache/regcache"},
    OptionSpec{.name = "ca-dir",
               .kind = Kind::Path,
               .value_name = "DIR",
               .help = "proxy mode's CA: ca.crt and ca.key (PEM, RSA or EC), made at the first "
                       "start when neither exists (the key mode 0600); put your own CA there to "
                       "use it (also CA_DIR)",
               .text_field = &Config::ca_dir,
               .default_text = "<cache-dir>/ca"},
    OptionSpec{.name = "leaf-certificates-max",
               .kind = Kind::Count32,
               .value_name = "N",
               .help = "proxy mode's leaf certificates kept in memory, one per intercepted host; "
                       "past it the least recently used is dropped (and made again when asked)",
               .count32_field = &Config::leaf_certificates_max,
               .count_min = 1},
    OptionSpec{.name = "drain-file",
               .kind = Kind::Path,
               .value_name = "FILE",
               .help = "while this file exists, /readyz answers 503 (take the instance out of a "
                       "load balancer without stopping it)",
               .text_field = &Config::drain_file,
               .default_text = "none"},
    OptionSpec{.name = "metrics-listen",
               .kind = Kind::ListenAddress,
               .value_name = "ADDR",
               .help = "also listen here, IPv4:port or [IPv6]:port, for /metrics, /livez and "
                       "/readyz only (everything else 404); /metrics then leaves the main port, "
                       "which keeps /livez and /readyz for load balancers",
               .text_field = &Config::metrics_listen_address,
               .default_text = "none (all three on the main port)"},
    OptionSpec{.name = "upstream-check-interval-ms",
               .kind = Kind::Count32,
               .value_name = "MS",
               .help = "probe a configured upstream with GET /v2/ (no credentials; 401 counts as "
                       "reachable) when nothing reached it for this long; /readyz fails when no "
                       "upstream answered its last check; 0: no probe",
               .count32_field = &Config::upstream_check_interval_ms},
    OptionSpec{.name = "cache-max-size",
               .kind = Kind::ByteSize,
               .value_name = "SIZE",
               .help = "most bytes of cached content (nginx sizes: 32g, 500m, 1024k, bytes; "
                       "CACHE_MAX_SIZE too); least recently used blobs are evicted from 95% of "
                       "it down to 90%",
               .count64_field = &Config::cache_max_size_bytes,
               .count_min = 1,
               .default_text = "32g"},
    OptionSpec{.name = "min-free",
               .kind = Kind::SpaceFloor,
               .value_name = "SPACE",
               .help = "free space to leave on the cache's file system, a percentage of its size "
                       "(5%) or a size (2g); the cache shrinks to keep it",
               .default_text = "5%"},
    OptionSpec{.name = "scrub-rate",
               .kind = Kind::ScrubRate,
               .value_name = "RATE",
               .help = "bytes per second the background scrub re-reads cached files at, to "
                       "find and remove rotten ones: auto (a full pass per week, at least "
                       "64k), off, or an nginx size (10m)",
               .default_text = "auto"},
    OptionSpec{.name = "workers",
               .kind = Kind::Count32,
               .value_name = "N",
               .help =
                   "worker threads, each with its own ring; 0: one per CPU this process may use "
                   "(affinity mask and cgroup quota)",
               .count32_field = &Config::workers,
               .count_min = 0},
    OptionSpec{.name = "insecure-upstream",
               .kind = Kind::Flag,
               .help = "do not verify the default upstream's TLS certificate",
               .flag_field = &Config::insecure_upstream,
               .flag_sets = true},
    OptionSpec{.name = "upstream-ca-file",
               .kind = Kind::Path,
               .value_name = "FILE",
               .help = "PEM file of CAs to trust for the upstreams",
               .text_field = &Config::upstream_ca_file,
               .default_text = "the system trust store"},
    OptionSpec{.name = "upstream-proxy",
               .kind = Kind::UpstreamProxy,
               .value_name = "URL",
               .help = "reach the upstreams through this HTTP proxy, http://[user:password@]"
                       "host[:port], with CONNECT (the upstream's TLS inside the tunnel); none: "
                       "directly. UPSTREAM_PROXY too; HTTP(S)_PROXY are not read",
               .default_text = "none"},
    OptionSpec{.name = "no-proxy",
               .kind = Kind::NoProxy,
               .value_name = "LIST",
               .help = "upstream hosts reached directly despite --upstream-proxy: names "
                       "(matching their subdomains, a leading '.' or not), IP addresses, CIDR "
                       "blocks, * for all, separated by commas; NO_PROXY and no_proxy too",
               .default_text = "none"},
    OptionSpec{.name = "header-timeout-ms",
               .kind = Kind::Count32,
               .value_name = "MS",
               .help = "time a client has to send a request's headers, counted from the "
                       "accept for the first request and from its first byte for later ones",
               .count32_field = &Config::header_timeout_ms,
               .count_min = 1},
    OptionSpec{.name = "idle-timeout-ms",
               .kind = Kind::Count32,
               .value_name = "MS",
               .help = "time an idle client connection is kept open",
               .count32_field = &Config::idle_timeout_ms,
               .count_min = 1},
    OptionSpec{.name = "upstream-connect-timeout-ms",
               .kind = Kind::Count32,
               .value_name = "MS",
               .help = "time to connect to the upstream (TCP and TLS; through --upstream-proxy, "
                       "TCP to the proxy and its CONNECT answer, then TLS)",
               .count32_field = &Config::upstream_connect_timeout_ms,
               .count_min = 1},
    OptionSpec{.name = "upstream-read-timeout-ms",
               .kind = Kind::Count32,
               .value_name = "MS",
               .help = "time the upstream may stay silent during a response",
               .count32_field = &Config::upstream_read_timeout_ms,
               .count_min = 1},
    OptionSpec{.name = "upstream-min-bytes-per-s",
               .kind = Kind::Count32,
               .value_name = "N",
               .help = "slowest upstream response kept: one sending fewer bytes per second, "
                       "averaged over --upstream-rate-window-ms of waiting, is cut (a download's "
                       "clients are reset, nothing is cached); 0: no floor",
               .count32_field = &Config::upstream_min_bytes_per_s,
               .count_min = 0},
    OptionSpec{.name = "upstream-rate-window-ms",
               .kind = Kind::Count32,
               .value_name = "MS",
               .help = "the window --upstream-min-bytes-per-s is averaged over",
               .count32_field = &Config::upstream_rate_window_ms,
               .count_min = 1},
    OptionSpec{.name = "shutdown-grace-ms",
               .kind = Kind::Count32,
               .value_name = "MS",
               .help = "time given to requests in progress on shutdown; 0: none",
               .count32_field = &Config::shutdown_grace_ms,
               .count_min = 0},
    OptionSpec{.name = "connections-max",
               .kind = Kind::Count32,
               .value_name = "N",
               .help = "client connections per worker; at the cap the oldest idle keep-alive "
                       "connection is closed, and with none idle a new one gets 503 with "
                       "Retry-After",
               .count32_field = &Config::connections_max,
               .count_min = 1,
               .default_text = "as many as the fd limit allows"},
    OptionSpec{.name = "connections-per-client-max",
               .kind = Kind::Count32,
               .value_name = "N",
               .help = "connections from one client address (all workers); past it, 503 with "
                       "Retry-After; 0: no limit",
               .count32_field = &Config::connections_per_client_max,
               .count_min = 0},
    OptionSpec{.name = "upstream-connections-max",
               .kind = Kind::Count32,
               .value_name = "N",
               .help = "idle pooled connections per upstream per worker; 0: no pooling",
               .count32_field = &Config::upstream_connections_max,
               .count_min = 0},
    OptionSpec{.name = "upstream-active-max",
               .kind = Kind::Count32,
               .value_name = "N",
               .help = "upstream connections in use per worker; past it, requests that need "
                       "another get 503 with Retry-After",
               .count32_field = &Config::upstream_active_max,
               .count_min = 1},
    OptionSpec{.name = "fetches-max",
               .kind = Kind::Count32,
               .value_name = "N",
               .help = "blob downloads from upstreams per worker; past it, a miss that would "
                       "start another gets 503 with Retry-After",
               .count32_field = &Config::fetches_max,
               .count_min = 1},
    OptionSpec{.name = "upstream-idle-timeout-ms",
               .kind = Kind::Count32,
               .value_name = "MS",
               .help = "time an idle pooled upstream connection is kept",
               .count32_field = &Config::upstream_idle_timeout_ms,
               .count_min = 1},
    OptionSpec{.name = "allow-push",
               .kind = Kind::Flag,
               .help = "relay POST, PUT, PATCH and DELETE under /v2/ (pushes) to the upstream, "
                       "streamed, with the client's own Authorization and never regcache's "
                       "credentials; without it they get 405 UNSUPPORTED",
               .flag_field = &Config::allow_push,
               .flag_sets = true},
    OptionSpec{.name = "pushes-max",
               .kind = Kind::Count32,
               .value_name = "N",
               .help = "push requests relayed at once per worker (each holds an upstream "
                       "connection while its body streams); past it, 503 with Retry-After",
               .count32_field = &Config::pushes_max,
               .count_min = 1},
    OptionSpec{.name = "token-cache-entries-max",
               .kind = Kind::Count32,
               .value_name = "N",
               .help = "upstream bearer tokens remembered (one per repository and credential); "
                       "the least recently used go first",
               .count32_field = &Config::token_cache_entries_max,
               .count_min = 1},
    OptionSpec{.name = "manifest-bytes-max",
               .kind = Kind::Count64,
               .value_name = "BYTES",
               .help = "largest manifest accepted from the upstream",
               .count64_field = &Config::manifest_bytes_max,
               .count_min = 1},
    OptionSpec{.name = "manifest-memory-bytes",
               .kind = Kind::ByteSize,
               .value_name = "SIZE",
               .help = "manifests of at most 64 KiB kept in memory for hits, this much of them "
                       "in all (nginx sizes); 0: none, every hit reads its file",
               .count64_field = &Config::manifest_memory_bytes,
               .count_min = 0,
               .default_text = "4m"},
    OptionSpec{.name = "tags-in-memory-max",
               .kind = Kind::Count32,
               .value_name = "N",
               .help = "tags whose entries are kept in memory (the least recently used go "
                       "first); 0: none, every request by tag reads its file",
               .count32_field = &Config::tags_in_memory_max,
               .count_min = 0},
    OptionSpec{.name = "uncached-window-bytes",
               .kind = Kind::Count64,
               .value_name = "BYTES",
               .help = "memory per download that cannot be cached (disk full, blob larger than "
                       "the free space): its most recent bytes, kept for its clients, who set "
                       "its pace",
               .count64_field = &Config::uncached_window_bytes,
               .count_min = 1u << 20},
    OptionSpec{.name = "uncached-reader-stall-ms",
               .kind = Kind::Count32,
               .value_name = "MS",
               .help = "how long such a download waits for a client a whole window behind; a "
                       "client still behind then is reset",
               .count32_field = &Config::uncached_reader_stall_ms,
               .count_min = 1},
    OptionSpec{.name = "no-access-log",
               .kind = Kind::Flag,
               .help = "do not write one line per request to stderr",
               .flag_field = &Config::access_log,
               .flag_sets = false},
    OptionSpec{.name = "log-file",
               .kind = Kind::Path,
               .value_name = "FILE",
               .help = "append the log (access lines and messages, timestamped) to FILE instead "
                       "of stderr; SIGUSR1 reopens it (for logrotate)",
               .text_field = &Config::log_file,
               .default_text = "none: stderr"},
    OptionSpec{.name = "log-format",
               .kind = Kind::LogFormat,
               .value_name = "FORMAT",
               .help = "text (one plain line per request or message) or json (one JSON object "
                       "per line, for log shippers)"},
    // The file named here is the one being read: a key for it in the file would mean nothing.
    OptionSpec{.name = "config",
               .kind = Kind::Path,
               .value_name = "FILE",
               .help = "JSON config file (keys: see below)",
               .text_field = &Config::config_file,
               .default_text = "none",
               .in_config_file = false},
    OptionSpec{.name = "docker-config",
               .kind = Kind::Path,
               .value_name = "FILE",
               .help = "a Docker config.json whose \"auths\" give upstream credentials (credsStore "
                       "and credHelpers are not run; ~/.docker/config.json is not read unless "
                       "named here)",
               .text_field = &Config::docker_config_file,
               .default_text = "none"},
    OptionSpec{.name = "listen-address",
               .kind = Kind::ListenAddress,
               .value_name = "ADDR",
               .help = "same as --listen",
               .text_field = &Config::listen_address,
               .command_line_only = true,
               .in_config_file = false},
    OptionSpec{.name = "upstream-domain",
               .kind = Kind::AcrDomain,
               .value_name = "HOST",
               .help = "same as --upstream https://HOST --upstream-kind acr",
               .command_line_only = true,
               .in_config_file = false},
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
  case Kind::Registries: {
    std::optional<RegistryPolicy> policy = parse_registry_policy(value, problem);
    if (!policy)
      return false;
    config.registries = std::move(*policy);
    return true;
  }
  case Kind::InterceptHosts: {
    std::optional<RegistryPolicy> policy = parse_registry_policy(value, problem);
    if (!policy)
      return false;
    config.intercept_hosts = std::move(*policy);
    return true;
  }
  case Kind::ClientNetworks: {
    std::optional<ClientNetworks> networks = parse_client_networks(value, problem);
    if (!networks)
      return false;
    config.allow_clients = std::move(*networks);
    return true;
  }
  case Kind::Clients: {
    std::optional<ClientPolicy> policy = parse_client_policy(value, problem);
    if (!policy)
      return false;
    config.upstreams.front().clients = std::move(*policy);
    return true;
  }
  case Kind::ControlUsers: {
    if (http::trim_ows(value) == "none") {
      config.control_users = ClientPolicy{ClientPolicy::Kind::Users, {}};
      return true;
    }
    std::optional<ClientPolicy> policy = parse_client_policy(value, problem);
    if (policy && policy->kind == ClientPolicy::Kind::Any) {
      // Anyone who can reach the port could purge the cache: not an operator's choice to make
      // by accident.
      *problem = "expected none, authenticated, or user names separated by commas (any is not "
                 "allowed for the control endpoints)";
      return false;
    }
    if (!policy)
      return false;
    config.control_users = std::move(*policy);
    return true;
  }
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
  case Kind::ByteSize: {
    std::optional<uint64_t> bytes = parse_nginx_size_bytes(value);
    if (!bytes) {
      *problem =
          "expected a size such as 32g, 500m, 1024k or a number of bytes, got " + quoted(value);
      return false;
    }
    if (*bytes < spec.count_min) {
      *problem =
          "must be at least " + std::to_string(spec.count_min) + " bytes, got " + quoted(value);
      return false;
    }
    config.*spec.count64_field = *bytes;
    return true;
  }
  case Kind::SpaceFloor: {
    std::optional<SpaceFloor> floor = parse_space_floor(value);
    if (!floor) {
      *problem = "expected a percentage from 0% to 99% or a size such as 2g, got " + quoted(value);
      return false;
    }
    config.min_free = *floor;
    return true;
  }
  case Kind::LogFormat:
    if (value == "text") {
      config.log_format = core::LogFormat::Text;
    } else if (value == "json") {
      config.log_format = core::LogFormat::Json;
    } else {
      *problem = "expected text or json, got " + quoted(value);
      return false;
    }
    return true;
  case Kind::UpstreamProxy: {
    if (value == "none") {
      config.upstream_proxy.host.clear();
      config.upstream_proxy.authorization.clear();
      config.upstream_proxy.display.clear();
      return true;
    }
    // The problem masks the password: the value itself is never quoted.
    std::optional<http::ProxyConfig> proxy = parse_upstream_proxy_url(value, problem);
    if (!proxy)
      return false;
    proxy->no_proxy = std::move(config.upstream_proxy.no_proxy);
    config.upstream_proxy = std::move(*proxy);
    return true;
  }
  case Kind::NoProxy: {
    std::optional<http::NoProxyList> list = http::NoProxyList::parse(value, problem);
    if (!list)
      return false;
    config.upstream_proxy.no_proxy = std::move(*list);
    return true;
  }
  case Kind::PortList: {
    std::optional<PortList> ports = parse_port_list(value, problem);
    if (!ports)
      return false;
    config.tunnel_ports = std::move(*ports);
    return true;
  }
  case Kind::ScrubRate: {
    if (value == "auto") {
      config.scrub_rate = ScrubRate{};
      return true;
    }
    if (value == "off") {
      config.scrub_rate = ScrubRate{ScrubRate::Mode::Off, 0};
      return true;
    }
    std::optional<uint64_t> rate = parse_nginx_size_bytes(value);
    if (!rate || *rate == 0) {
      *problem =
          "expected auto, off, or bytes per second as a size such as 10m, got " + quoted(value);
      return false;
    }
    config.scrub_rate = ScrubRate{ScrubRate::Mode::Fixed, *rate};
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

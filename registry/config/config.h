#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/log_style.h"
#include "http/proxy_connect.h"
#include "registry/api/byte_size.h"
#include "registry/api/client_networks.h"
#include "registry/api/client_policy.h"
#include "registry/api/port_list.h"
#include "registry/api/registry_policy.h"
#include "registry/api/upstream_url.h"
#include "registry/config/upstream_config.h"

namespace regcache::registry {

inline const UpstreamUrl kDockerHubUrl = {true, "registry-1.docker.io", kHttpsDefaultPort};
// The routing key of Docker Hub: what containerd sends as ?ns= and what image names start with.
inline constexpr std::string_view kDockerHubHost = "docker.io";
// Where Docker Hub credentials go: its token server (docker-registry-proxy's rule).
inline constexpr std::string_view kDockerHubCredentialsHost = "auth.docker.io";

// --connections-max not given: the cap comes from the fd limit alone.
inline constexpr uint32_t kConnectionsMaxFromFdLimit = UINT32_MAX;

// Every setting of a running regcache, with its default. These initializers are the one place
// defaults are written: --help prints them from a default-constructed Config. The exception is
// cache_dir, whose default depends on the process (see default_cache_dir in options.h).
// parse_options merges command line > environment > config file > these defaults.
// --scrub-rate: how fast the background scrub re-reads cached files to find rot.
struct ScrubRate {
  enum class Mode : uint8_t {
    Auto,  // a full pass over the cache per week, at least 64 KiB/s
    Off,   // no background scrub (hits still check the size)
    Fixed, // bytes_per_s
  };
  Mode mode = Mode::Auto;
  uint64_t bytes_per_s = 0;
  friend bool operator==(const ScrubRate &, const ScrubRate &) = default;
};

struct Config {
  std::string listen_address = "127.0.0.1:3128"; // IPv4:port or [IPv6]:port
  std::string cache_dir;
  std::string ca_dir;                    // proxy mode's CA; empty: <cache_dir>/ca (options.cc)
  uint32_t leaf_certificates_max = 1024; // leaf certificates cached in memory (tls/)
  std::string drain_file;                // /readyz fails while it exists; empty: none
  unsigned workers = 1;                  // 0: one per usable CPU (core/usable_cpus.h)
  bool insecure_upstream = false; // skip verification of the default upstream's TLS certificate
  std::string upstream_ca_file;   // empty: the system trust store
  // --upstream-proxy and --no-proxy: every upstream connection (blobs, manifests, token realms,
  // redirects, ACR's identity endpoints, the health probe) to a host its no_proxy does not
  // match is a CONNECT tunnel through this HTTP proxy. Its host is empty: no proxy.
  http::ProxyConfig upstream_proxy;

  uint32_t header_timeout_ms = 10'000;
  uint32_t idle_timeout_ms = 60'000;
  uint32_t upstream_connect_timeout_ms = 5'000;
  uint32_t upstream_read_timeout_ms = 60'000;
  // A response's rate floor (http/read_budget.h): fewer bytes per second of waiting than this,
  // over a window of this much waiting, and it is cut (a download's clients are reset). 0: none.
  uint32_t upstream_min_bytes_per_s = 1024;
  uint32_t upstream_rate_window_ms = 60'000;
  uint32_t shutdown_grace_ms = 10'000;

  // Client connections per worker. Not given: as many as the fd limit leaves room for (see
  // registry/daemon/connection_budget.h); a value above that is lowered to it at start.
  uint32_t connections_max = kConnectionsMaxFromFdLimit;
  // Connections from one client address, all workers; 0: no limit. Off by default: one address
  // may be a whole office behind NAT or a CI host running many jobs, and an address's idle
  // connections cannot lock others out anyway (the oldest idle one is closed at the cap).
  uint32_t connections_per_client_max = 0;
  uint32_t upstream_connections_max = 64; // idle pooled connections, per upstream per worker
  // Bounds on what clients can make regcache hold (issue 9): upstream connections in use or
  // opening and blob downloads, per worker (past them, 503 with Retry-After), idle pooled
  // connections' age, and bearer tokens remembered (shared by the workers).
  uint32_t upstream_active_max = 256;
  uint32_t fetches_max = 64;
  uint32_t upstream_idle_timeout_ms = 30'000;
  uint32_t token_cache_entries_max = 10'000;
  // Push passthrough (docker-registry-proxy's ALLOW_PUSH): POST/PUT/PATCH/DELETE under /v2/ are
  // relayed to the upstream with the client's own credentials; off, they get 405. At most
  // pushes_max such requests per worker at once (past it, 503 with Retry-After): each holds an
  // upstream connection and a client connection for as long as its body takes.
  bool allow_push = false;
  uint32_t pushes_max = 32;
  uint64_t manifest_bytes_max = 4u << 20; // 4 MiB, the limit distribution sets for manifests
  // The hit path in memory (issue 12): manifests of at most 64 KiB, this many bytes of them in
  // all (0: none), and the entries of this many tags (0: none; the files are read each time).
  uint64_t manifest_memory_bytes = 4u << 20;
  uint32_t tags_in_memory_max = 16384;
  // A download that cannot be cached (disk full, blob larger than the free space) keeps this
  // much of its most recent bytes in memory for its clients, and waits this long for a client
  // that is that far behind; a client still behind then is reset.
  uint64_t uncached_window_bytes = 8u << 20;
  uint32_t uncached_reader_stall_ms = 5'000;

  // Disk (issue 11): published content is kept under cache_max_size_bytes (docker-registry-
  // proxy's CACHE_MAX_SIZE default, 32g) and the cache's file system keeps min_free free; the
  // evictor starts below the tighter of the two (README "Disk limits").
  uint64_t cache_max_size_bytes = uint64_t{32} << 30;
  SpaceFloor min_free;
  ScrubRate scrub_rate;

  bool access_log = true;
  // Where stderr goes (appended; reopened on SIGUSR1 for logrotate), empty: stderr as given.
  // Plain lines written there carry a timestamp: nothing else stamps them.
  std::string log_file;
  core::LogFormat log_format = core::LogFormat::Text;

  // Upstream observations (README "Metrics and health"): a configured upstream nothing has
  // reached for this long gets a cheap GET /v2/ without credentials, so /readyz and
  // regcache_upstream_up know whether it answers; 0: no probe. A separate listener for
  // /metrics, /livez and /readyz only; empty: they are answered on the main port.
  uint32_t upstream_check_interval_ms = 30'000;
  std::string metrics_listen_address;

  // Which registries clients may name beyond the configured upstreams (?ns=). Whatever it
  // says, an unconfigured host is reached only at a public address.
  RegistryPolicy registries;
  // Client access control: the addresses that may connect (default: all), and the users who
  // may authenticate (an htpasswd file; empty: no client authentication). Which clients may
  // use an upstream is each upstream's `clients`.
  ClientNetworks allow_clients;
  std::string htpasswd_file;
  // Proxy mode (issue 13): the users who may use the proxy (CONNECT and absolute-form requests
  // need Proxy-Authorization when set; an htpasswd file; empty: anyone --allow-clients admits).
  std::string proxy_users_file;
  // CONNECT tunnels: their ports (not given: 443 and the configured upstreams' ports), how many
  // one worker holds, how long one may take to connect, stay silent both ways, and live.
  PortList tunnel_ports;
  uint32_t tunnels_max = 1024;
  uint32_t tunnel_connect_timeout_ms = 10'000;
  uint32_t tunnel_idle_timeout_ms = 300'000; // 5 min
  uint32_t tunnel_max_ms = 3'600'000;        // 1 h
  // Who may use the control endpoints from an address that is not loopback (--control-users;
  // default: nobody, i.e. loopback only).
  ClientPolicy control_users{ClientPolicy::Kind::Users, {}};

  // Proxy mode (README "Proxy mode"): the main port also answers CONNECT. A CONNECT to a
  // configured upstream's host, to a host credentials are configured for, or to a host
  // `intercept_hosts` lists (docker-registry-proxy's defaults; served as an unconfigured
  // registry, so `registries` must allow it too) is intercepted: its TLS is terminated with a
  // leaf certificate regcache's CA signs and its requests are served as mirror requests. Every
  // other CONNECT is a tunnel. Off: CONNECT is refused (405).
  bool proxy_mode = true;
  RegistryPolicy intercept_hosts{
      .kind = RegistryPolicy::Kind::Listed,
      .patterns = {"registry-1.docker.io", "auth.docker.io", "registry.k8s.io", "gcr.io", "quay.io",
                   "ghcr.io"},
      .text = "registry-1.docker.io,auth.docker.io,registry.k8s.io,gcr.io,quay.io,ghcr.io"};
  // A client's TLS handshake with regcache (an intercepted CONNECT) must end within this.
  uint32_t tls_handshake_timeout_ms = 10'000;

  // Element 0 is always the default upstream (--upstream, --upstream-kind, --upstream-prefix);
  // its `host` is the URL's authority, "docker.io" for Docker Hub, and it carries the global
  // --insecure-upstream and --upstream-ca-file. The others are extra registries clients name by
  // host (?ns=<host> or a first path component), unique by `host`.
  std::vector<UpstreamConfig> upstreams = {
      UpstreamConfig{.host = std::string(kDockerHubHost), .url = kDockerHubUrl}};
  // The default upstream: stored once, as element 0 of `upstreams`.
  const UpstreamConfig &default_upstream() const { return upstreams.front(); }
  // At most one entry per host; Docker Hub's under auth.docker.io.
  std::vector<HostCredentials> credentials;
  ManifestTtlSettings manifest_ttl; // the global policy; an upstream may override it
  std::string config_file;          // the JSON file read (--config), empty: none
  std::string docker_config_file;   // a Docker config.json whose "auths" were read, empty: none
};

} // namespace regcache::registry

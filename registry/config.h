#pragma once

#include <cstdint>
#include <string>

#include "registry/upstream_url.h"

namespace regcache::registry {

// Every setting of a running regcache, with its default. These initializers are the one place
// defaults are written: --help prints them from a default-constructed Config. The exception is
// cache_dir, whose default depends on the process (see default_cache_dir in options.h).
struct Config {
  std::string listen_address = "127.0.0.1:3128"; // IPv4:port or [IPv6]:port
  UpstreamUrl upstream = {true, "registry-1.docker.io", kHttpsDefaultPort};
  std::string cache_dir;
  unsigned workers = 1;           // 0: one per core
  bool insecure_upstream = false; // skip verification of the upstream's TLS certificate
  std::string upstream_ca_file;   // empty: the system trust store

  uint32_t header_timeout_ms = 10'000;
  uint32_t idle_timeout_ms = 60'000;
  uint32_t upstream_connect_timeout_ms = 5'000;
  uint32_t upstream_read_timeout_ms = 60'000;
  uint32_t shutdown_grace_ms = 10'000;

  uint32_t connections_max = 4096;        // client connections, per worker
  uint32_t upstream_connections_max = 64; // idle pooled connections, per upstream per worker
  uint64_t manifest_bytes_max = 4u << 20; // 4 MiB, the limit distribution sets for manifests

  bool access_log = true;
};

} // namespace regcache::registry

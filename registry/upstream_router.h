#pragma once
// Which upstream a mirror request goes to, and under which repository name.
//   1. `?ns=<host>` (what containerd sends to a mirror) selects https://<host>;
//   2. otherwise the default upstream (--upstream).
// For Docker Hub, a one-component name gets "library/" in front, as the Docker client does.
#include <string>
#include <string_view>

#include "http/upstream_endpoint.h"
#include "registry/config.h"

namespace regcache::registry {

struct UpstreamChoice {
  http::Endpoint endpoint;
  std::string name;  // the repository name to use upstream
};

// Returns false (and an error message) when `ns` names no valid registry host.
bool choose_upstream(const Config& config, std::string_view query, std::string_view name,
                     UpstreamChoice& out, std::string_view* error);

}  // namespace regcache::registry

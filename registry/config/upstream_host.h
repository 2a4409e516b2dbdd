#pragma once
// The host an upstream is routed by, shared by every layer that names upstreams: the command
// line's --upstream, REGISTRIES and the config file's "upstreams".
#include <optional>
#include <string>
#include <string_view>

#include "registry/api/upstream_url.h"
#include "registry/config/upstream_config.h"

namespace regcache::registry {

// The routing key of an upstream at `url`: its authority, or "docker.io" for Docker Hub.
std::string upstream_routing_host(const UpstreamUrl &url);

// An upstream for a bare host[:port] (REGISTRIES, a config-file entry without "url"): https, and
// for Docker Hub's names the host "docker.io" at https://registry-1.docker.io. nullopt (and
// `error` set, quoting the text) when it is not a host[:port].
std::optional<UpstreamConfig> upstream_for_host(std::string_view text, std::string *error);

} // namespace regcache::registry

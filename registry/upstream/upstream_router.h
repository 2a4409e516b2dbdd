#pragma once
// Which upstream a mirror request goes to, and under which repository name. In this order:
//   1. `?ns=<host>` (what containerd sends to a mirror): the configured upstream of that host,
//      else https://<host>;
//   2. a first path component naming a configured upstream host, so podman and CRI-O can use
//      `location = "regcache:3128/ghcr.io"` (`/v2/ghcr.io/org/img/...` -> ghcr.io, `org/img`);
//   3. the default upstream (the first configured one, from --upstream).
// Then: Docker Hub gets `library/` before one-component names, and an upstream's repository
// prefix (an ACR cache rule such as `hub`) goes in front of the name.
#include <span>
#include <string>
#include <string_view>

#include "http/upstream_endpoint.h"
#include "registry/config/config.h"

namespace regcache::registry {

struct UpstreamChoice {
  http::Endpoint endpoint;
  std::string name;                       // the repository name to use upstream
  const UpstreamConfig *config = nullptr; // null for an unconfigured ?ns= host
};

inline constexpr std::string_view kInvalidNsMessage =
    "the ns parameter is not a registry host name";
// The one answer to every registry a client may not reach, whatever the reason (the policy, an
// address in regcache's own network), so it tells nothing about hosts or ports.
inline constexpr std::string_view kRegistryDeniedMessage = "regcache does not serve this registry";

// The `ns` query parameter names a registry host (or is absent). Checked before anything else
// looks at the request, so an invalid one is refused the same way on every path.
bool ns_param_is_valid(std::string_view query);

enum class UpstreamRefusal : uint8_t {
  None,        // `out` is set
  InvalidHost, // ?ns= is not a registry host name: 400 NAME_INVALID
  NotServed,   // ?ns= names a registry --registries excludes: 403 DENIED
};

// Where requests to a configured upstream's URL go (no TLS context, not public_only: the caller
// decides those).
http::Endpoint endpoint_of(const UpstreamUrl &url);

// Proxy mode: whether a CONNECT to `host`:`port` is intercepted (its TLS terminated and its
// requests served as mirror requests) rather than tunnelled. Intercepted: a configured
// upstream's host (at its port, or at 443 for its host alone), a host credentials are
// configured for, or a host config.intercept_hosts lists that config.registries also lets
// clients name. An IPv6 literal is never intercepted (?ns= cannot name one either).
bool connect_is_intercepted(const Config &config, std::string_view host, uint16_t port);

// The registry host a client's CONNECT named, as a ?ns= value names it: "host" for port 443,
// else "host:port". Written into `out`; empty when it does not fit.
std::string_view intercepted_ns(std::string_view host, uint16_t port, std::span<char> out);

// The upstream for a request. An unconfigured ?ns= host is reached over https, only when the
// registry policy allows it, and only at a public address (endpoint.public_only).
UpstreamRefusal choose_upstream(const Config &config, std::string_view query, std::string_view name,
                                UpstreamChoice &out);

} // namespace regcache::registry

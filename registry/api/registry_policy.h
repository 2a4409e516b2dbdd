#pragma once
// Which registries regcache serves beyond its configured upstreams (--registries): any public
// host, only the configured ones, or a list of hosts and `*.` wildcards. Pure: the router asks
// it about a host a client named with ?ns=.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace regcache::registry {

struct RegistryPolicy {
  enum class Kind : uint8_t {
    Any,        // every host (that resolves to a public address)
    Configured, // only the configured upstreams
    Listed,     // the hosts matching `patterns`
  };
  Kind kind = Kind::Any;
  // Lowercase "host", "host:port" or "*.suffix" (matches any host ending in ".suffix", any port
  // when the pattern has none).
  std::vector<std::string> patterns;
  std::string text = "any"; // as the operator wrote it, for --help and the start-up line
};

// "any", "configured", or a comma-separated list of hosts and wildcards. nullopt with
// `*problem` set when an element is not a host, host:port or *.suffix.
std::optional<RegistryPolicy> parse_registry_policy(std::string_view text, std::string *problem);

// Whether `host` (host or host:port as a client named it) may be served as an unconfigured
// upstream.
bool registry_policy_allows(const RegistryPolicy &policy, std::string_view host);

} // namespace regcache::registry

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace regcache::registry {

inline constexpr uint16_t kHttpDefaultPort = 80;
inline constexpr uint16_t kHttpsDefaultPort = 443;

// Where an upstream registry is: scheme, host and port, nothing else (the API root is /v2/).
struct UpstreamUrl {
  bool tls = true;
  std::string host; // lowercase; an IPv6 literal is kept without its brackets
  uint16_t port = kHttpsDefaultPort;

  // The Host header value: host, "[v6]", with ":port" when not the scheme's default.
  std::string authority() const;
  // "https://" or "http://" followed by the authority.
  std::string url() const;

  friend bool operator==(const UpstreamUrl &, const UpstreamUrl &) = default;
};

// Accepts http:// or https:// (scheme case-insensitive), a host (DNS name, IPv4, or [IPv6]),
// an optional :port (1-65535), an optional trailing '/', and nothing else: no user info, path,
// query or fragment. The host is lowercased. On failure returns nullopt and, when `error` is not
// null, sets it to a one-line reason.
std::optional<UpstreamUrl> parse_upstream_url(std::string_view text, std::string *error);

// Whether the upstream is Docker Hub's registry, where one-component names live under
// "library/" (see docker_hub_name).
bool is_docker_hub(const UpstreamUrl &upstream);

// "host:port" -> "host", "[v6]:port" -> "[v6]"; anything else unchanged.
std::string_view host_without_port(std::string_view authority);

} // namespace regcache::registry

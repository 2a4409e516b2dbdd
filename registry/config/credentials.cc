#include "registry/config/credentials.h"

#include <algorithm>
#include <cassert>

#include "http/message_head.h"
#include "registry/api/upstream_url.h"
#include "registry/config/config.h"

namespace regcache::registry {

std::optional<std::string> credentials_host(std::string_view text, std::string *error) {
  std::string_view rest = text;
  for (std::string_view scheme : {"https://", "http://"}) {
    if (rest.size() >= scheme.size() && http::iequals(rest.substr(0, scheme.size()), scheme)) {
      rest.remove_prefix(scheme.size());
      break;
    }
  }
  rest = rest.substr(0, rest.find('/'));
  if (rest.empty()) {
    if (error != nullptr)
      *error = "expected a host name";
    return std::nullopt;
  }
  // The URL parser already validates host names, IPv4, bracketed IPv6 and ports.
  std::string reason;
  const std::optional<UpstreamUrl> url =
      parse_upstream_url("https://" + std::string(rest), &reason);
  if (!url) {
    if (error != nullptr)
      *error = "expected a host name or host:port, got '" + std::string(rest) + "'";
    return std::nullopt;
  }
  if (is_docker_hub(*url))
    return std::string(kDockerHubCredentialsHost);
  return url->authority();
}

const HostCredentials *find_credentials(std::span<const HostCredentials> credentials,
                                        std::string_view host) {
  for (const HostCredentials &entry : credentials) {
    if (http::iequals(entry.host, host))
      return &entry;
  }
  const std::string_view bare = host_without_port(host);
  if (bare.size() == host.size())
    return nullptr;
  for (const HostCredentials &entry : credentials) {
    if (http::iequals(entry.host, bare))
      return &entry;
  }
  return nullptr;
}

std::string redact(const HostCredentials &credentials) {
  return credentials.username + ":***";
}

void add_missing_credentials(std::vector<HostCredentials> &merged,
                             std::span<const HostCredentials> lower) {
  for (const HostCredentials &entry : lower) {
    assert(!entry.host.empty());
    const bool present = std::any_of(merged.begin(), merged.end(), [&](const HostCredentials &m) {
      return m.host == entry.host;
    });
    if (!present)
      merged.push_back(entry);
  }
}

} // namespace regcache::registry

#include "registry/config/upstream_host.h"

#include <utility>

#include "registry/config/config.h"

namespace regcache::registry {

std::string upstream_routing_host(const UpstreamUrl &url) {
  return is_docker_hub(url) ? std::string(kDockerHubHost) : url.authority();
}

std::optional<UpstreamConfig> upstream_for_host(std::string_view text, std::string *error) {
  std::optional<UpstreamUrl> url;
  if (text.find("://") == std::string_view::npos && text.find('/') == std::string_view::npos)
    url = parse_upstream_url("https://" + std::string(text), nullptr);
  if (!url) {
    if (error != nullptr)
      *error = "expected a host name or host:port, got '" + std::string(text) + "'";
    return std::nullopt;
  }
  UpstreamConfig upstream;
  upstream.host = upstream_routing_host(*url);
  upstream.url = is_docker_hub(*url) ? kDockerHubUrl : std::move(*url);
  return upstream;
}

} // namespace regcache::registry

#include "registry/upstream_router.h"

#include "registry/route.h"

namespace regcache::registry {
namespace {

http::Endpoint endpoint_of(const UpstreamUrl& url) {
  http::Endpoint endpoint;
  endpoint.tls = url.tls;
  endpoint.host = url.host;
  endpoint.port = url.port;
  endpoint.authority = url.authority();
  return endpoint;
}

}  // namespace

bool choose_upstream(const Config& config, std::string_view query, std::string_view name,
                     UpstreamChoice& out, std::string_view* error) {
  UpstreamUrl url = config.upstream;
  std::string_view ns = query_param(query, "ns");
  if (!ns.empty()) {
    if (!is_valid_registry_host(ns)) {
      *error = "the ns parameter is not a registry host name";
      return false;
    }
    // containerd names Docker Hub "docker.io"; its registry API lives on registry-1.docker.io.
    std::string_view host = ns == "docker.io" ? std::string_view("registry-1.docker.io") : ns;
    std::string parse_error;
    std::optional<UpstreamUrl> parsed = parse_upstream_url("https://" + std::string(host), &parse_error);
    if (!parsed) {
      *error = "the ns parameter is not a registry host name";
      return false;
    }
    url = *parsed;
  }
  out.endpoint = endpoint_of(url);
  out.name = is_docker_hub(url) ? docker_hub_name(name) : std::string(name);
  return true;
}

}  // namespace regcache::registry

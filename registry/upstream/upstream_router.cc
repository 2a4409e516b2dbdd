#include "registry/upstream/upstream_router.h"

#include <fmt/format.h>

#include <array>

#include "registry/api/name_grammar.h"
#include "registry/api/route.h"

namespace regcache::registry {
namespace {

// Docker Hub answers to several names; containerd says "docker.io".
bool same_registry_host(std::string_view configured, std::string_view asked) {
  if (configured == asked)
    return true;
  auto hub = [](std::string_view host) {
    return host == "docker.io" || host == "registry-1.docker.io" || host == "index.docker.io";
  };
  return hub(configured) && hub(asked);
}

// A ?ns= of host:port names the configured upstream at that host and port, whether or not its
// URL spells the scheme's default port (`registry.corp:443` is https://registry.corp).
bool same_host_and_port(const UpstreamUrl &url, std::string_view asked) {
  const size_t colon = asked.rfind(':');
  if (colon == std::string_view::npos)
    return false;
  std::optional<uint16_t> port = parse_port(asked.substr(colon + 1));
  return port && *port == url.port && asked.substr(0, colon) == url.host;
}

const UpstreamConfig *find_upstream(const Config &config, std::string_view host) {
  for (const UpstreamConfig &upstream : config.upstreams) {
    if (same_registry_host(upstream.host, host) ||
        same_registry_host(upstream.url.authority(), host) ||
        same_host_and_port(upstream.url, host)) {
      return &upstream;
    }
  }
  return nullptr;
}

} // namespace

http::Endpoint endpoint_of(const UpstreamUrl &url) {
  http::Endpoint endpoint;
  endpoint.tls = url.tls;
  endpoint.host = url.host;
  endpoint.port = url.port;
  endpoint.authority = url.authority();
  return endpoint;
}

std::string_view intercepted_ns(std::string_view host, uint16_t port, std::span<char> out) {
  auto result = port == 443 ? fmt::format_to_n(out.data(), out.size(), "{}", host)
                            : fmt::format_to_n(out.data(), out.size(), "{}:{}", host, port);
  if (result.size > out.size())
    return {};
  return std::string_view(out.data(), result.size);
}

bool connect_is_intercepted(const Config &config, std::string_view host, uint16_t port) {
  if (host.empty() || host.find(':') != std::string_view::npos)
    return false; // an IPv6 literal
  std::array<char, kRegistryHostBytesMax + 8> ns_text;
  const std::string_view ns = intercepted_ns(host, port, ns_text);
  if (ns.empty() || !is_valid_registry_host(ns))
    return false;
  if (find_upstream(config, ns) != nullptr)
    return true;
  for (const HostCredentials &credentials : config.credentials) {
    if (same_registry_host(credentials.host, ns))
      return true;
  }
  return registry_policy_allows(config.intercept_hosts, ns) &&
         registry_policy_allows(config.registries, ns);
}

bool ns_param_is_valid(std::string_view query) {
  RegistryHostBuffer buffer;
  std::optional<std::string_view> ns = ns_param(query, buffer);
  // An IPv6 literal passes here and is refused by choose_upstream with the 403 of every
  // registry regcache does not serve.
  return ns && (ns->empty() || ns->starts_with('[') || is_valid_registry_host(*ns));
}

UpstreamRefusal choose_upstream(const Config &config, std::string_view query, std::string_view name,
                                UpstreamChoice &out) {
  out.config = nullptr;
  UpstreamUrl url = config.default_upstream().url;
  RegistryHostBuffer ns_buffer;
  std::optional<std::string_view> decoded_ns = ns_param(query, ns_buffer);
  if (!decoded_ns)
    return UpstreamRefusal::InvalidHost;
  std::string_view ns = *decoded_ns;
  std::string_view repository = name;
  if (!ns.empty()) {
    if (!is_valid_registry_host(ns)) {
      // An IPv6 literal ([::1]:5000) names no registry regcache serves: refused like an
      // address in its own network, so the answer says nothing about which it is.
      return ns.starts_with('[') ? UpstreamRefusal::NotServed : UpstreamRefusal::InvalidHost;
    }
    out.config = find_upstream(config, ns);
    if (out.config == nullptr) {
      if (!registry_policy_allows(config.registries, ns))
        return UpstreamRefusal::NotServed;
      std::string_view host = ns == "docker.io" ? std::string_view("registry-1.docker.io") : ns;
      std::string parse_error;
      std::optional<UpstreamUrl> parsed =
          parse_upstream_url("https://" + std::string(host), &parse_error);
      if (!parsed)
        return UpstreamRefusal::InvalidHost;
      url = *parsed;
    }
  } else {
    size_t slash = name.find('/');
    // Only a component that looks like a host (has a dot) can name a registry: "library" never
    // does.
    if (slash != std::string_view::npos &&
        name.substr(0, slash).find('.') != std::string_view::npos) {
      if (const UpstreamConfig *named = find_upstream(config, name.substr(0, slash))) {
        out.config = named;
        repository = name.substr(slash + 1);
      }
    }
    if (out.config == nullptr && !config.upstreams.empty())
      out.config = &config.upstreams.front();
  }
  if (out.config != nullptr)
    url = out.config->url;
  out.endpoint = endpoint_of(url);
  // A host the operator did not configure is the client's choice: never regcache's network.
  out.endpoint.public_only = out.config == nullptr;
  // Names are Docker Hub's when the upstream is Docker Hub, or stands in for it (an upstream
  // configured as docker.io that points at another mirror of Docker Hub).
  const bool hub_names = is_docker_hub(url) || (out.config != nullptr &&
                                                same_registry_host(out.config->host, "docker.io"));
  out.name = hub_names ? docker_hub_name(repository) : std::string(repository);
  if (out.config != nullptr && !out.config->prefix.empty())
    out.name = out.config->prefix + "/" + out.name;
  return UpstreamRefusal::None;
}

} // namespace regcache::registry

#include "registry/api/registry_policy.h"

#include "http/message_head.h"
#include "registry/api/route.h"
#include "registry/api/upstream_url.h"

namespace regcache::registry {
namespace {

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char &c : out)
    c = http::ascii_lower(c);
  return out;
}

bool pattern_matches(std::string_view pattern, std::string_view host) {
  if (pattern.starts_with("*.")) {
    const std::string_view suffix = pattern.substr(1); // ".example.com"
    const std::string_view bare =
        pattern.find(':') == std::string_view::npos ? host_without_port(host) : host;
    return bare.size() > suffix.size() &&
           http::iequals(bare.substr(bare.size() - suffix.size()), suffix);
  }
  if (pattern.find(':') == std::string_view::npos)
    return http::iequals(pattern, host_without_port(host));
  return http::iequals(pattern, host);
}

} // namespace

std::optional<RegistryPolicy> parse_registry_policy(std::string_view text, std::string *problem) {
  RegistryPolicy policy;
  policy.text = std::string(http::trim_ows(text));
  if (policy.text == "any") {
    policy.kind = RegistryPolicy::Kind::Any;
    return policy;
  }
  if (policy.text == "configured") {
    policy.kind = RegistryPolicy::Kind::Configured;
    return policy;
  }
  policy.kind = RegistryPolicy::Kind::Listed;
  std::string_view rest = text;
  while (!rest.empty()) { // bounded: each turn removes one element
    size_t comma = rest.find(',');
    const std::string element = lowercase(http::trim_ows(rest.substr(0, comma)));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (element.empty())
      continue;
    std::string_view host = element;
    if (host.starts_with("*."))
      host.remove_prefix(2);
    if (!is_valid_registry_host(host)) {
      *problem = "expected any, configured, or hosts and *.wildcards separated by commas; '" +
                 element + "' is not a host";
      return std::nullopt;
    }
    policy.patterns.push_back(element);
  }
  if (policy.patterns.empty()) {
    *problem = "expected any, configured, or hosts and *.wildcards separated by commas";
    return std::nullopt;
  }
  return policy;
}

bool registry_policy_allows(const RegistryPolicy &policy, std::string_view host) {
  switch (policy.kind) {
  case RegistryPolicy::Kind::Any:
    return true;
  case RegistryPolicy::Kind::Configured:
    return false;
  case RegistryPolicy::Kind::Listed:
    break;
  }
  for (const std::string &pattern : policy.patterns) {
    if (pattern_matches(pattern, host))
      return true;
  }
  return false;
}

} // namespace regcache::registry

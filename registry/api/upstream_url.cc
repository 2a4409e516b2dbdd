#include "registry/api/upstream_url.h"

#include <utility>

#include "http/message_head.h"

#include "registry/api/name_grammar.h"

namespace regcache::registry {

namespace {

constexpr std::string_view kHttpScheme = "http://";
constexpr std::string_view kHttpsScheme = "https://";

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size())
    return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (http::ascii_lower(text[i]) != http::ascii_lower(prefix[i]))
      return false;
  }
  return true;
}

std::optional<UpstreamUrl> fail(std::string *error, std::string message) {
  if (error != nullptr)
    *error = std::move(message);
  return std::nullopt;
}

std::string quoted(std::string_view text) {
  std::string result;
  result.reserve(text.size() + 2);
  result.append("'").append(text).append("'");
  return result;
}

} // namespace

std::string UpstreamUrl::authority() const {
  const bool is_ipv6 = host.find(':') != std::string::npos;
  std::string result;
  if (is_ipv6) {
    result.append("[").append(host).append("]");
  } else {
    result.append(host);
  }
  if (port != (tls ? kHttpsDefaultPort : kHttpDefaultPort)) {
    result.append(":").append(std::to_string(port));
  }
  return result;
}

std::string UpstreamUrl::url() const {
  std::string result(tls ? kHttpsScheme : kHttpScheme);
  result.append(authority());
  return result;
}

std::optional<UpstreamUrl> parse_upstream_url(std::string_view text, std::string *error) {
  UpstreamUrl url{};
  std::string_view rest;
  if (starts_with_ignoring_case(text, kHttpsScheme)) {
    url.tls = true;
    rest = text.substr(kHttpsScheme.size());
  } else if (starts_with_ignoring_case(text, kHttpScheme)) {
    url.tls = false;
    rest = text.substr(kHttpScheme.size());
  } else {
    return fail(error, "expected a URL starting with http:// or https://, got " + quoted(text));
  }
  if (rest.ends_with('/'))
    rest.remove_suffix(1);
  if (rest.find_first_of("/?#") != std::string_view::npos) {
    return fail(error, "expected only scheme, host and port (no path, query or fragment) in " +
                           quoted(text));
  }
  if (rest.find('@') != std::string_view::npos) {
    return fail(error, "user info is not allowed in " + quoted(text));
  }

  std::string_view host;
  std::string_view port_text;
  bool has_port = false;
  if (rest.starts_with('[')) {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos)
      return fail(error, "unclosed '[' in " + quoted(text));
    host = rest.substr(1, close - 1);
    const std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':')
        return fail(error, "unexpected text after ']' in " + quoted(text));
      has_port = true;
      port_text = after.substr(1);
    }
    if (!is_valid_ipv6(host))
      return fail(error, "invalid IPv6 address " + quoted(host));
  } else {
    const size_t colon = rest.find(':');
    host = rest.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = rest.substr(colon + 1);
      if (port_text.find(':') != std::string_view::npos) {
        return fail(error, "an IPv6 address must be in brackets in " + quoted(text));
      }
    }
  }
  if (host.empty())
    return fail(error, "missing host in " + quoted(text));

  url.host.reserve(host.size());
  for (char c : host)
    url.host.push_back(http::ascii_lower(c));
  const bool bracketed = rest.starts_with('[');
  if (!bracketed && !is_valid_hostname(url.host) && !is_valid_ipv4(url.host)) {
    return fail(error, "invalid host " + quoted(host) + " in " + quoted(text));
  }

  url.port = url.tls ? kHttpsDefaultPort : kHttpDefaultPort;
  if (has_port) {
    const std::optional<uint16_t> port = parse_port(port_text);
    if (!port)
      return fail(error, "invalid port " + quoted(port_text) + " (expected 1-65535)");
    url.port = *port;
  }
  return url;
}

bool is_docker_hub(const UpstreamUrl &upstream) {
  return upstream.host == "registry-1.docker.io" || upstream.host == "index.docker.io" ||
         upstream.host == "docker.io";
}

std::string_view host_without_port(std::string_view host) {
  if (host.starts_with('[')) {
    const size_t close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  const size_t colon = host.find(':');
  if (colon == std::string_view::npos || host.find(':', colon + 1) != std::string_view::npos)
    return host;
  return host.substr(0, colon);
}

} // namespace regcache::registry

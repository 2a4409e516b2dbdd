#include "registry/api/push_location.h"

#include <cassert>

#include "http/message_head.h"
#include "registry/api/route.h"

namespace regcache::registry {
namespace {

bool same_upstream(const http::Endpoint &a, const http::Endpoint &b) {
  return a.tls == b.tls && a.port == b.port && http::iequals(a.host, b.host);
}

// `target` (path and query on the upstream) with the upstream's repository name replaced by
// the client's, and ?ns= added back when the request was routed by it.
std::string regcache_target(std::string_view target, const PushLocationContext &context) {
  std::string out;
  out.reserve(target.size() + context.client_name.size() + context.ns_value.size() + 8);
  const std::string_view api = "/v2/";
  const bool names_repository =
      target.starts_with(api) && target.substr(api.size()).starts_with(context.upstream_name) &&
      target.substr(api.size() + context.upstream_name.size()).starts_with('/');
  if (names_repository && !context.upstream_name.empty()) {
    out.append(api).append(context.client_name);
    out.append(target.substr(api.size() + context.upstream_name.size()));
  } else {
    out.append(target);
  }
  if (context.ns_value.empty())
    return out;
  const size_t question = out.find('?');
  const std::string_view query =
      question == std::string::npos ? std::string_view() : std::string_view(out).substr(question);
  if (!query_param(query, "ns").empty())
    return out; // the upstream named one itself: left alone
  out.append(question == std::string::npos ? "?" : (out.back() == '?' ? "" : "&"));
  out.append("ns=").append(context.ns_value);
  return out;
}

} // namespace

std::string rewrite_push_location(std::string_view location, const PushLocationContext &context) {
  assert(context.upstream != nullptr);
  if (location.starts_with('/') && !location.starts_with("//"))
    return regcache_target(location, context);
  http::Endpoint named;
  std::string target;
  if (http::parse_absolute_url(location, named, target) && same_upstream(named, *context.upstream))
    return regcache_target(target, context);
  return std::string(location);
}

} // namespace regcache::registry

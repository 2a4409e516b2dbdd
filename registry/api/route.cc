#include "registry/api/route.h"

#include <cassert>

#include "http/message_head.h"
#include "registry/api/name_grammar.h"

namespace regcache::registry {

namespace {

constexpr std::string_view kApiPrefix = "/v2/";
constexpr std::string_view kTagsListSuffix = "/tags/list";

// Unknown paths get 404 with UNSUPPORTED. The spec has no NOT_FOUND code (distribution answers
// unmatched routes with a plain-text 404 from its router), but a JSON body with a spec code is
// something every client can parse. The status must be 404: clients probing optional
// endpoints, such as the referrers API, fall back only on 404 (distribution spec, "Listing
// Referrers"). Pushes (blobs/uploads/) land here too: regcache is a pull-through cache.
constexpr RouteError kUnknownPath{404, OciErrorCode::Unsupported,
                                  "no such endpoint; regcache serves pulls only"};
constexpr RouteError kNameInvalid{400, OciErrorCode::NameInvalid, "invalid repository name"};
// distribution answers a bad tag with TAG_INVALID, which clients show as is.
constexpr RouteError kTagInvalid{400, OciErrorCode::TagInvalid, "invalid tag"};
constexpr RouteError kDigestInvalid{400, OciErrorCode::DigestInvalid, "invalid digest"};
constexpr RouteError kBlobNeedsDigest{400, OciErrorCode::DigestInvalid,
                                      "blobs are addressed by digest, not by tag"};

RouteResult named_route(Route::Kind kind, std::string_view name, std::string_view reference) {
  if (!is_valid_repository_name(name))
    return kNameInvalid;
  switch (kind) {
  case Route::Kind::TagsList:
    return Route{kind, name, {}, false};
  case Route::Kind::Manifest:
    // Tags cannot hold ':', digests always do: the colon decides which grammar applies.
    if (reference.find(':') != std::string_view::npos) {
      if (!is_valid_digest(reference))
        return kDigestInvalid;
      return Route{kind, name, reference, true};
    }
    if (!is_valid_tag(reference))
      return kTagInvalid;
    return Route{kind, name, reference, false};
  case Route::Kind::Blob:
    if (reference.find(':') == std::string_view::npos)
      return kBlobNeedsDigest;
    if (!is_valid_digest(reference))
      return kDigestInvalid;
    return Route{kind, name, reference, true};
  case Route::Kind::Ping:
    break;
  }
  assert(false && "Ping has no name");
  return kUnknownPath;
}

} // namespace

RouteResult parse_route(std::string_view path) {
  if (path == "/v2" || path == kApiPrefix)
    return Route{Route::Kind::Ping, {}, {}, false};
  if (!path.starts_with(kApiPrefix))
    return kUnknownPath;
  const std::string_view rest = path.substr(kApiPrefix.size());
  // No endpoint ends in '/' past the ping (blobs/uploads/ starts a push).
  if (rest.back() == '/')
    return kUnknownPath;

  if (rest.ends_with(kTagsListSuffix)) {
    return named_route(Route::Kind::TagsList, rest.substr(0, rest.size() - kTagsListSuffix.size()),
                       {});
  }
  // <name>/<kind>/<reference>: the reference is the last segment, the kind the one before it.
  const size_t reference_slash = rest.rfind('/');
  if (reference_slash == std::string_view::npos)
    return kUnknownPath;
  const std::string_view reference = rest.substr(reference_slash + 1);
  const std::string_view head = rest.substr(0, reference_slash);
  const size_t kind_slash = head.rfind('/');
  if (kind_slash == std::string_view::npos)
    return kUnknownPath; // no name at all
  const std::string_view kind_segment = head.substr(kind_slash + 1);
  const std::string_view name = head.substr(0, kind_slash);
  if (kind_segment == "manifests")
    return named_route(Route::Kind::Manifest, name, reference);
  if (kind_segment == "blobs") {
    // POST /v2/<name>/blobs/uploads (the spec writes it with a trailing slash) starts a push.
    if (reference == "uploads")
      return kUnknownPath;
    return named_route(Route::Kind::Blob, name, reference);
  }
  return kUnknownPath;
}

std::string_view query_param(std::string_view query, std::string_view key) {
  assert(!key.empty());
  if (query.starts_with('?'))
    query.remove_prefix(1);
  while (!query.empty()) { // bounded: each round removes one pair
    const size_t ampersand = query.find('&');
    const std::string_view pair = query.substr(0, ampersand);
    query.remove_prefix(ampersand == std::string_view::npos ? query.size() : ampersand + 1);
    const size_t equals = pair.find('=');
    if (pair.substr(0, equals) != key)
      continue;
    return equals == std::string_view::npos ? std::string_view{} : pair.substr(equals + 1);
  }
  return {};
}

std::optional<std::string_view> ns_param(std::string_view query, RegistryHostBuffer &buffer) {
  const std::string_view raw = query_param(query, "ns");
  size_t length = 0;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (length == buffer.size())
      return std::nullopt;
    char c = raw[i];
    if (c == '%') {
      if (raw.size() - i < 3)
        return std::nullopt;
      const int high = http::hex_digit_value(raw[i + 1]);
      const int low = http::hex_digit_value(raw[i + 2]);
      if (high < 0 || low < 0)
        return std::nullopt;
      c = static_cast<char>(high * 16 + low);
      i += 2;
    }
    buffer[length++] = c;
  }
  return std::string_view(buffer.data(), length);
}

bool is_valid_registry_host(std::string_view host) {
  const size_t colon = host.rfind(':');
  if (colon != std::string_view::npos) {
    if (!parse_port(host.substr(colon + 1)))
      return false;
    host = host.substr(0, colon);
  }
  return is_valid_hostname(host) || is_valid_ipv4(host);
}

std::string docker_hub_name(std::string_view name) {
  constexpr std::string_view kOfficialPrefix = "library/";
  if (name.find('/') != std::string_view::npos)
    return std::string(name);
  std::string prefixed;
  prefixed.reserve(kOfficialPrefix.size() + name.size());
  prefixed.append(kOfficialPrefix).append(name);
  return prefixed;
}

} // namespace regcache::registry

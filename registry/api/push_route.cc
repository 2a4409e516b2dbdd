#include "registry/api/push_route.h"

#include <algorithm>

#include "registry/api/name_grammar.h"

namespace regcache::registry {
namespace {

constexpr std::string_view kApiPrefix = "/v2/";
constexpr std::string_view kUploads = "/blobs/uploads";

// An upload session is whatever the upstream put in its Location: distribution uses a UUID,
// others base64url or hex. One path segment of URL-safe characters, so nothing the client
// sends can step out of the repository's path upstream.
bool is_session_segment(std::string_view segment) {
  constexpr size_t kSessionBytesMax = 512;
  if (segment.empty() || segment.size() > kSessionBytesMax || segment == "." || segment == "..")
    return false;
  return std::all_of(segment.begin(), segment.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '=' || c == '~';
  });
}

std::optional<PushRoute> named(PushRoute::Kind kind, std::string_view rest, size_t name_end,
                               std::string_view tag) {
  const std::string_view name = rest.substr(0, name_end);
  if (!is_valid_repository_name(name))
    return std::nullopt;
  return PushRoute{kind, name, rest.substr(name_end), tag};
}

} // namespace

bool is_push_method(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

std::optional<PushRoute> parse_push_route(std::string_view path) {
  if (!path.starts_with(kApiPrefix))
    return std::nullopt;
  const std::string_view rest = path.substr(kApiPrefix.size());
  // The spec writes the start with a trailing slash; distribution accepts both.
  for (std::string_view start : {std::string_view("/blobs/uploads/"), kUploads}) {
    if (rest.ends_with(start) && rest.size() > start.size())
      return named(PushRoute::Kind::UploadStart, rest, rest.size() - start.size(), {});
  }
  // <name>/<kind>/<last>: the name may hold slashes, so the last segments decide.
  const size_t last_slash = rest.rfind('/');
  if (last_slash == std::string_view::npos || last_slash == 0)
    return std::nullopt;
  const std::string_view last = rest.substr(last_slash + 1);
  const std::string_view head = rest.substr(0, last_slash);
  if (head.ends_with(kUploads) && head.size() > kUploads.size()) {
    if (!is_session_segment(last))
      return std::nullopt;
    return named(PushRoute::Kind::UploadSession, rest, head.size() - kUploads.size(), {});
  }
  const size_t kind_slash = head.rfind('/');
  if (kind_slash == std::string_view::npos)
    return std::nullopt;
  const std::string_view kind = head.substr(kind_slash + 1);
  if (kind == "manifests") {
    // Tags cannot hold ':', digests always do (as in route.cc).
    const bool by_digest = last.find(':') != std::string_view::npos;
    if (by_digest ? !is_valid_digest(last) : !is_valid_tag(last))
      return std::nullopt;
    return named(PushRoute::Kind::Manifest, rest, kind_slash,
                 by_digest ? std::string_view() : last);
  }
  if (kind == "blobs") {
    if (!is_valid_digest(last))
      return std::nullopt;
    return named(PushRoute::Kind::Blob, rest, kind_slash, {});
  }
  return std::nullopt;
}

} // namespace regcache::registry

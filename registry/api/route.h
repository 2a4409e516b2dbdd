#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "registry/api/oci_error.h"

namespace regcache::registry {

// A request path of the OCI distribution API that regcache serves. The views point into the
// path given to parse_route.
struct Route {
  enum class Kind : uint8_t { Ping, Manifest, Blob, TagsList } kind;
  std::string_view name;      // repository name; empty for Ping
  std::string_view reference; // tag or digest for Manifest, digest for Blob; empty otherwise
  bool reference_is_digest;

  friend bool operator==(const Route &, const Route &) = default;
};

// Why a path is refused: the HTTP status and the OCI error to send. `message` is a literal.
struct RouteError {
  uint16_t status;
  OciErrorCode code;
  std::string_view message;

  friend bool operator==(const RouteError &, const RouteError &) = default;
};

using RouteResult = std::variant<Route, RouteError>;

// Parses the path of a request target (without the query: split at '?' first; no
// percent-decoding is done, so an encoded name is refused by the name grammar):
//   /v2 and /v2/                      -> Ping
//   /v2/<name>/manifests/<reference>  -> Manifest (reference: tag or digest)
//   /v2/<name>/blobs/<digest>         -> Blob
//   /v2/<name>/tags/list              -> TagsList
// The name may contain slashes, so the route is decided by the last segments of the path.
// Digests are checked against the digest grammar only; whether the algorithm is one regcache
// can verify is the caller's decision.
RouteResult parse_route(std::string_view path);

// The first value of `key` in a query string ("a=1&b=2", a leading '?' is skipped). Neither
// key nor value is percent-decoded: the caller validates the value. A missing key and an
// empty value both give an empty view.
std::string_view query_param(std::string_view query, std::string_view key);

// Room for the longest registry host: a 253-byte DNS name, ':' and a five-digit port.
inline constexpr size_t kRegistryHostBytesMax = 259;
using RegistryHostBuffer = std::array<char, kRegistryHostBytesMax>;

// The value of `?ns=`, percent-decoded into `buffer` (containerd encodes the port's colon:
// `ns=registry.corp%3A5000`). An empty view when there is no ns; nullopt when the value has a
// broken %-escape or does not fit. Not yet checked: see is_valid_registry_host.
std::optional<std::string_view> ns_param(std::string_view query, RegistryHostBuffer &buffer);

// The registry host of a `?ns=` parameter (as containerd sends it): a lowercase host name or
// an IPv4 address, with an optional :port. Lowercase only because the host becomes part of
// cache keys, and one registry must not get two keys. IPv6 literals are not accepted.
bool is_valid_registry_host(std::string_view host);

// Docker Hub keeps official images under "library/": "alpine" is "library/alpine" there.
std::string docker_hub_name(std::string_view name);

} // namespace regcache::registry

#pragma once
// The Location of a push's upload session, as the client must follow it through regcache. The
// upstream names its own URL (absolute, or a path on itself); a client of a mirror has to come
// back to regcache, and under the repository name it used, not the upstream's (library/ added
// for Docker Hub, an upstream's prefix, a first path component that named the registry).
#include <string>
#include <string_view>

#include "http/upstream_endpoint.h"

namespace regcache::registry {

struct PushLocationContext {
  const http::Endpoint *upstream = nullptr; // where the push went
  std::string_view upstream_name;           // the repository name sent upstream
  std::string_view client_name;             // the name in the client's path
  // The raw `ns` query value the request was routed by (containerd's form); empty: none. Added
  // back so the session's next request is routed to the same upstream.
  std::string_view ns_value;
};

// An absolute URL on the upstream itself, or a path (starting with '/'), becomes a path on
// regcache; an absolute URL on another host (a storage service some registries upload to) and
// any other reference stay as they are: the client follows those itself.
std::string rewrite_push_location(std::string_view location, const PushLocationContext &context);

} // namespace regcache::registry

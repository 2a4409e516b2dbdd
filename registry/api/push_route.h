#pragma once
// The paths of the OCI distribution push API (distribution spec, "Push"), which regcache relays
// to the upstream with --allow-push. The views point into the path given to parse_push_route.
#include <optional>
#include <string_view>

namespace regcache::registry {

// The methods a push uses beside GET and HEAD.
bool is_push_method(std::string_view method);

struct PushRoute {
  enum class Kind : uint8_t {
    UploadStart,   // POST /v2/<name>/blobs/uploads/ (also a cross-repository mount)
    UploadSession, // PATCH, PUT, GET, DELETE /v2/<name>/blobs/uploads/<session>
    Manifest,      // PUT, DELETE /v2/<name>/manifests/<reference>
    Blob,          // DELETE /v2/<name>/blobs/<digest>
  } kind;
  std::string_view name;   // repository name as the client wrote it
  std::string_view suffix; // the path after the name, from its '/': sent upstream as it is
  std::string_view tag;    // Manifest by tag: the tag (its cache entry goes stale); else empty
};

// nullopt: not a push path, or a name, session, tag or digest outside the spec's grammar.
std::optional<PushRoute> parse_push_route(std::string_view path);

} // namespace regcache::registry

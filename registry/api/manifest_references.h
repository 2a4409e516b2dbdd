#pragma once
// What an image manifest or index names, read from its JSON (OCI image spec, Docker schema 2):
// an index or manifest list names platform manifests under "manifests"; an image manifest
// names its config under "config" and its layers under "layers". Used to know which cached
// blobs make up an image (regcachectl's ls and purge); pure, unit-tested.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "registry/api/digest.h"

namespace regcache::registry {

struct ManifestReference {
  enum class Kind : uint8_t { Manifest, Config, Layer };
  Kind kind = Kind::Layer;
  Digest digest{};
  uint64_t size_bytes = 0;
  std::string platform; // "os/architecture[/variant]" of an index's manifests, else empty
};

// An index names at most this many manifests, an image at most this many layers: far past any
// real image (Docker caps layers at 127), and a bound on what one damaged file can make us hold.
inline constexpr size_t kManifestReferencesMax = 4096;

// Appends what `json` names to `out`. False when it is not a JSON object, a descriptor lacks a
// sha256 digest, or it names more than kManifestReferencesMax (`out` is then left empty).
// Descriptors of other digest algorithms cannot be in this store and make the parse fail too.
bool parse_manifest_references(std::string_view json, std::vector<ManifestReference> &out);

} // namespace regcache::registry

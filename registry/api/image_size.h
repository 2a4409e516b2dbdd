#pragma once
// The size of an image as its manifest declares it, for the status page's largest images.
#include <cstdint>
#include <optional>
#include <string_view>

namespace regcache::registry {

// The config's and every layer's `size` summed, from an OCI or Docker v2 image manifest's JSON.
// nullopt for anything else (an index or manifest list names no layers of its own, a schema1
// manifest no sizes) and for malformed JSON.
std::optional<uint64_t> image_bytes_of_manifest(std::string_view manifest_json);

} // namespace regcache::registry

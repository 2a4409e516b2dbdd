#include "registry/api/image_size.h"

#include <simdjson.h>

namespace regcache::registry {

std::optional<uint64_t> image_bytes_of_manifest(std::string_view manifest_json) {
  // simdjson needs padded input, so the manifest is copied once: this runs when a tag's
  // manifest arrives from the upstream, not when the cache serves it.
  const simdjson::padded_string padded(manifest_json.data(), manifest_json.size());
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(padded).get(root) != simdjson::SUCCESS)
    return std::nullopt;
  simdjson::dom::array layers;
  if (root["layers"].get(layers) != simdjson::SUCCESS)
    return std::nullopt;
  uint64_t total = 0;
  uint64_t config_bytes = 0;
  if (root["config"]["size"].get(config_bytes) == simdjson::SUCCESS)
    total += config_bytes;
  for (simdjson::dom::element layer : layers) { // bounded by the manifest's size
    uint64_t layer_bytes = 0;
    if (layer["size"].get(layer_bytes) != simdjson::SUCCESS)
      return std::nullopt;
    total += layer_bytes;
  }
  return total;
}

} // namespace regcache::registry

#include "registry/api/manifest_references.h"

#include <simdjson.h>

namespace regcache::registry {
namespace {

bool read_descriptor(simdjson::dom::element element, ManifestReference::Kind kind,
                     std::vector<ManifestReference> &out) {
  simdjson::dom::object descriptor;
  if (element.get(descriptor) != simdjson::SUCCESS)
    return false;
  std::string_view digest_text;
  if (descriptor["digest"].get(digest_text) != simdjson::SUCCESS)
    return false;
  std::optional<Digest> digest = parse_sha256_digest(digest_text);
  if (!digest)
    return false;
  ManifestReference reference;
  reference.kind = kind;
  reference.digest = *digest;
  uint64_t size_bytes = 0;
  if (descriptor["size"].get(size_bytes) == simdjson::SUCCESS)
    reference.size_bytes = size_bytes;
  simdjson::dom::object platform;
  if (kind == ManifestReference::Kind::Manifest &&
      descriptor["platform"].get(platform) == simdjson::SUCCESS) {
    std::string_view os, architecture, variant;
    if (platform["os"].get(os) == simdjson::SUCCESS &&
        platform["architecture"].get(architecture) == simdjson::SUCCESS) {
      reference.platform.append(os).append("/").append(architecture);
      if (platform["variant"].get(variant) == simdjson::SUCCESS && !variant.empty())
        reference.platform.append("/").append(variant);
    }
  }
  out.push_back(std::move(reference));
  return true;
}

bool read_array(simdjson::dom::object manifest, std::string_view key, ManifestReference::Kind kind,
                std::vector<ManifestReference> &out) {
  simdjson::dom::element field;
  if (manifest[key].get(field) != simdjson::SUCCESS)
    return true; // absent: nothing of that kind
  simdjson::dom::array descriptors;
  if (field.get(descriptors) != simdjson::SUCCESS)
    return false;
  for (simdjson::dom::element descriptor : descriptors) {
    if (out.size() >= kManifestReferencesMax)
      return false;
    if (!read_descriptor(descriptor, kind, out))
      return false;
  }
  return true;
}

} // namespace

bool parse_manifest_references(std::string_view json, std::vector<ManifestReference> &out) {
  const size_t before = out.size();
  // A manifest is at most a few MiB (distribution's limit is 4 MiB); the copy gives simdjson
  // its padding.
  const simdjson::padded_string padded(json.data(), json.size());
  simdjson::dom::parser parser;
  simdjson::dom::object manifest;
  bool parsed = parser.parse(padded).get(manifest) == simdjson::SUCCESS;
  if (parsed)
    parsed = read_array(manifest, "manifests", ManifestReference::Kind::Manifest, out);
  simdjson::dom::element config;
  if (parsed && manifest["config"].get(config) == simdjson::SUCCESS)
    parsed = read_descriptor(config, ManifestReference::Kind::Config, out);
  if (parsed)
    parsed = read_array(manifest, "layers", ManifestReference::Kind::Layer, out);
  if (!parsed)
    out.resize(before);
  return parsed;
}

} // namespace regcache::registry

#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace regcache::registry {

inline constexpr std::string_view kMediaTypeDockerManifestV2 =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kMediaTypeDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kMediaTypeOciManifest =
    "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kMediaTypeOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kMediaTypeDockerManifestV1Signed =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";
inline constexpr std::string_view kMediaTypeDockerManifestV1 =
    "application/vnd.docker.distribution.manifest.v1+json";

// The manifest media types regcache tells apart. The value is the bit position in an accept
// mask; new kinds go at the end so that existing mask keys stay the same.
enum class ManifestKind : uint8_t {
  DockerManifestV2,
  DockerManifestList,
  OciManifest,
  OciIndex,
  DockerManifestV1Signed,
  DockerManifestV1,
};
inline constexpr size_t kManifestKindCount = 6;
static_assert(static_cast<size_t>(ManifestKind::DockerManifestV1) + 1 == kManifestKindCount);

// Indexed by ManifestKind.
inline constexpr std::array<std::string_view, kManifestKindCount> kManifestMediaTypes = {
    kMediaTypeDockerManifestV2, kMediaTypeDockerManifestList,     kMediaTypeOciManifest,
    kMediaTypeOciIndex,         kMediaTypeDockerManifestV1Signed, kMediaTypeDockerManifestV1,
};

constexpr uint8_t accept_bit(ManifestKind kind) {
  return static_cast<uint8_t>(1u << static_cast<unsigned>(kind));
}
// Set by "*/*" and "application/*": every manifest type is acceptable.
inline constexpr uint8_t kAcceptAnyBit = 1u << kManifestKindCount;
inline constexpr uint8_t kAcceptMaskAll = (kAcceptAnyBit << 1) - 1;
static_assert(kManifestKindCount + 1 <= 8, "an accept mask must fit in uint8_t");

// The kind of a media type (case-insensitive, parameters such as "; charset=utf-8" ignored), as
// found in a Content-Type header or a manifest's mediaType field.
std::optional<ManifestKind> manifest_kind(std::string_view media_type);

// The accept mask of one Accept header value (RFC 9110 section 12.5.1): comma-separated media
// ranges, parameters ignored except q; a range with q=0 is not acceptable and sets no bit.
// A request may carry several Accept headers: OR their masks. A q=0 exclusion of one type
// under a wildcard is not represented (the wildcard bit accepts every type).
uint8_t accept_mask(std::string_view accept_header_value);

// Whether a manifest of `media_type` may be served to a client whose Accept gave `mask`.
// An empty mask accepts nothing: the caller decides what a request without Accept gets.
bool mask_accepts(uint8_t mask, std::string_view media_type);

// Whether the manifest an upstream answered to a client with `stored_mask`, of `media_type`, is
// also what it would answer a client with `client_mask`, so the stored answer can serve it.
// A registry sends a tag's own manifest to a client that names its type, and converts only for
// one that does not (a list or index to one platform's manifest, schema2 to schema1; `*/*`
// alone names no type for distribution). The stored answer is the tag's own when it is a list
// or an index (nothing converts to one) or when `stored_mask` named every kind a conversion
// starts from; otherwise it is known to serve only clients that accept nothing `stored_mask` did
// not. Beyond an equal mask (the upstream's answer to that exact Accept, whatever it was), the
// client must name the type itself.
bool stored_answer_serves(uint8_t stored_mask, std::string_view media_type, uint8_t client_mask);

// A short, stable, file-name-safe key for a mask, to key tag cache entries per accepted set:
// one letter per bit in bit order (d: Docker v2, l: Docker list, o: OCI manifest, i: OCI
// index, p: schema1 prettyjws, j: schema1 json, a: wildcard), "none" for 0. Requires
// mask <= kAcceptMaskAll. The view points to static storage.
std::string_view mask_key(uint8_t mask);

} // namespace regcache::registry

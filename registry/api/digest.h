#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace regcache::registry {

inline constexpr std::string_view kSha256Prefix = "sha256:";
inline constexpr size_t kSha256Bytes = 32;
inline constexpr size_t kSha256HexChars = 2 * kSha256Bytes;
inline constexpr size_t kDigestChars = kSha256Prefix.size() + kSha256HexChars; // "sha256:<64 hex>"
static_assert(kDigestChars == 71);

// A sha256 content digest, the only algorithm regcache stores.
struct Digest {
  std::array<uint8_t, kSha256Bytes> bytes;

  friend bool operator==(const Digest &, const Digest &) = default;
};

// The digest bytes are already uniformly distributed, so the first word is a good hash.
struct DigestHash {
  size_t operator()(const Digest &digest) const noexcept;
};

// Accepts exactly "sha256:" followed by 64 lowercase hex digits (the canonical form the OCI
// image spec requires for sha256; uppercase would give one blob two names).
std::optional<Digest> parse_sha256_digest(std::string_view text);

// Writes "sha256:<64 lowercase hex>".
void format_digest(const Digest &digest, std::span<char, kDigestChars> out);
// Writes the 64 lowercase hex digits alone (blob file names).
void format_digest_hex(const Digest &digest, std::span<char, kSha256HexChars> out);
std::string to_string(const Digest &digest);

// Decodes lowercase hex; false on any other character. Requires hex.size() == 2 * out.size().
bool decode_hex_lower(std::string_view hex, std::span<uint8_t> out);
// Requires out.size() == 2 * bytes.size().
void encode_hex_lower(std::span<const uint8_t> bytes, std::span<char> out);

} // namespace regcache::registry

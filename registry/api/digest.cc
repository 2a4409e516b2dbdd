#include "registry/api/digest.h"

#include <cassert>
#include <cstring>

namespace regcache::registry {

namespace {

constexpr std::string_view kHexDigits = "0123456789abcdef";

int lower_hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

} // namespace

size_t DigestHash::operator()(const Digest &digest) const noexcept {
  static_assert(sizeof(size_t) <= kSha256Bytes);
  size_t hash = 0;
  std::memcpy(&hash, digest.bytes.data(), sizeof(hash));
  return hash;
}

bool decode_hex_lower(std::string_view hex, std::span<uint8_t> out) {
  assert(hex.size() == 2 * out.size());
  for (size_t i = 0; i < out.size(); ++i) {
    const int high = lower_hex_value(hex[2 * i]);
    const int low = lower_hex_value(hex[2 * i + 1]);
    if (high < 0 || low < 0)
      return false;
    out[i] = static_cast<uint8_t>((high << 4) | low);
  }
  return true;
}

void encode_hex_lower(std::span<const uint8_t> bytes, std::span<char> out) {
  assert(out.size() == 2 * bytes.size());
  for (size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kHexDigits[bytes[i] >> 4];
    out[2 * i + 1] = kHexDigits[bytes[i] & 0xF];
  }
}

std::optional<Digest> parse_sha256_digest(std::string_view text) {
  if (text.size() != kDigestChars || !text.starts_with(kSha256Prefix))
    return std::nullopt;
  Digest digest{};
  if (!decode_hex_lower(text.substr(kSha256Prefix.size()), digest.bytes))
    return std::nullopt;
  return digest;
}

void format_digest_hex(const Digest &digest, std::span<char, kSha256HexChars> out) {
  encode_hex_lower(digest.bytes, out);
}

void format_digest(const Digest &digest, std::span<char, kDigestChars> out) {
  std::memcpy(out.data(), kSha256Prefix.data(), kSha256Prefix.size());
  format_digest_hex(digest, out.subspan<kSha256Prefix.size()>());
}

std::string to_string(const Digest &digest) {
  std::string text(kDigestChars, '\0');
  format_digest(digest, std::span<char, kDigestChars>(text.data(), kDigestChars));
  return text;
}

} // namespace regcache::registry

// Reading claims from a JWT (RFC 7519) that a token service handed us, to know when to fetch the
// next one. No signature check: we are the client, and the registry checks the token it receives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace regcache::registry {

// Registry and Entra tokens are 1-4 KiB; a longer one is not worth decoding.
inline constexpr size_t kJwtBytesMax = 64 * 1024;

// The "exp" claim (RFC 7519 section 4.1.4, a NumericDate: seconds since the epoch, fractions
// truncated) of a JWS compact serialization "header.payload.signature". nullopt when the text is
// not three dot-separated base64url segments, the payload is not a JSON object, or "exp" is
// absent, not a number, or negative.
std::optional<int64_t> jwt_expiry_unix_s(std::string_view jwt);

} // namespace regcache::registry

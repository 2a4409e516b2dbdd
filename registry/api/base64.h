// Base64 (RFC 4648 sections 4 and 5) for upstream authentication: encoding user:password for
// "Authorization: Basic" (RFC 7617 section 2) and decoding the payload segment of a JWT
// (RFC 7515 section 2, base64url without padding).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace regcache::registry {

// Standard alphabet, padded with '='.
std::string base64_encode(std::string_view bytes);

// Standard alphabet; the '=' padding may be omitted, but when present it must be complete.
// Rejects whitespace, other characters, a length no encoding has, and non-zero bits in the last
// character's unused low bits (RFC 4648 section 3.5), so each byte string has one accepted text.
std::optional<std::string> base64_decode(std::string_view text);

// URL-safe alphabet ('-' and '_' for '+' and '/') without padding, as in JWS compact
// serialization; '=' is rejected. Otherwise as strict as base64_decode.
std::optional<std::string> base64url_decode(std::string_view text);

} // namespace regcache::registry

// Parsing of the JSON answers of token services: the distribution token spec
// (docs/spec/auth/token.md, "Token Response Fields"), ACR's /oauth2/exchange (Azure/acr
// docs/AAD-OAuth.md), and Microsoft Entra ID (IMDS and login.microsoftonline.com).
//
// Error messages never contain token text: they end up in logs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace regcache::registry {

// Token answers are a few KiB (a JWT and some numbers); anything far larger is not one.
inline constexpr size_t kTokenResponseBytesMax = 256 * 1024;
// "When omitted, this defaults to 60 seconds. For compatibility with older clients, a token
// should never be returned with less than 60 seconds to live." Docker's client raises shorter
// lifetimes to 60 as well.
inline constexpr uint32_t kTokenLifetimeMinS = 60;

struct TokenResponse {
  std::string token;         // "token", or "access_token" when "token" is absent or empty
  std::string refresh_token; // empty when absent
  // "expires_in", raised to kTokenLifetimeMinS when absent or smaller, capped at UINT32_MAX.
  uint32_t expires_in_s = kTokenLifetimeMinS;
  // "issued_at" (RFC 3339) as Unix seconds; when absent the lifetime counts from receipt.
  std::optional<int64_t> issued_at_unix_s;
};

// A distribution token-service answer. Fails on non-JSON, a non-object, no non-empty token,
// a field of the wrong type, an unparseable issued_at, or a token with bytes that cannot go in an
// Authorization field (anything but visible ASCII). `out` is written only on success.
bool parse_token_response(std::string_view json, TokenResponse &out, std::string *error);

// ACR's /oauth2/exchange answer, {"refresh_token":"..."}. `refresh_token` is written only on
// success.
bool parse_acr_refresh_token_response(std::string_view json, std::string &refresh_token,
                                      std::string *error);

// An Entra ID token answer. IMDS sends "expires_on" (Unix seconds) and "expires_in" as strings
// of digits; login.microsoftonline.com sends "expires_in" as a number and no "expires_on". Either
// form of either field is accepted; "expires_on" wins when both are present, otherwise the expiry
// is now_unix_s + expires_in. Outputs are written only on success.
bool parse_entra_token_response(std::string_view json, int64_t now_unix_s,
                                std::string &access_token, int64_t &expires_on_unix_s,
                                std::string *error);

// An RFC 3339 date-time ("2009-11-10T23:00:00Z", "2024-05-01T12:34:56.789+02:00") as Unix
// seconds, fractions truncated; nullopt when malformed or out of range (years 0000-9999).
std::optional<int64_t> parse_rfc3339_unix_s(std::string_view text);

} // namespace regcache::registry

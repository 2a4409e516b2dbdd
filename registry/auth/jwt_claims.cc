#include "registry/auth/jwt_claims.h"

#include <simdjson.h>

#include <cmath>
#include <limits>
#include <string>

#include "registry/api/base64.h"

namespace regcache::registry {

namespace {

// The payload segment of "header.payload.signature"; nullopt unless there are exactly three
// segments (five would be a JWE, whose payload is encrypted) and the first two are non-empty.
std::optional<std::string_view> jws_payload_segment(std::string_view jwt) {
  const size_t first_dot = jwt.find('.');
  if (first_dot == std::string_view::npos || first_dot == 0)
    return std::nullopt;
  const size_t second_dot = jwt.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos || second_dot == first_dot + 1)
    return std::nullopt;
  if (jwt.find('.', second_dot + 1) != std::string_view::npos)
    return std::nullopt;
  return jwt.substr(first_dot + 1, second_dot - first_dot - 1);
}

} // namespace

std::optional<int64_t> jwt_expiry_unix_s(std::string_view jwt) {
  if (jwt.size() > kJwtBytesMax)
    return std::nullopt;
  const std::optional<std::string_view> segment = jws_payload_segment(jwt);
  if (!segment)
    return std::nullopt;
  const std::optional<std::string> payload = base64url_decode(*segment);
  if (!payload)
    return std::nullopt;
  // The decoded payload is copied once more to get simdjson's padding; a JWT is a few KiB.
  const simdjson::padded_string padded(payload->data(), payload->size());
  simdjson::dom::parser parser;
  simdjson::dom::object claims;
  if (parser.parse(padded).get(claims) != simdjson::SUCCESS)
    return std::nullopt;
  simdjson::dom::element exp;
  if (claims["exp"].get(exp) != simdjson::SUCCESS)
    return std::nullopt;
  int64_t whole_seconds = 0;
  if (exp.get(whole_seconds) == simdjson::SUCCESS)
    return whole_seconds >= 0 ? std::optional<int64_t>(whole_seconds) : std::nullopt;
  // NumericDate may carry a fraction (RFC 7519 section 2).
  double seconds = 0;
  if (exp.get(seconds) != simdjson::SUCCESS || !std::isfinite(seconds) || seconds < 0 ||
      seconds >= 9223372036854775808.0 /* 2^63 */)
    return std::nullopt;
  return static_cast<int64_t>(seconds);
}

} // namespace regcache::registry

// Parsing of the WWW-Authenticate response field (RFC 9110 section 11.6.1) into challenges, and
// the two questions the upstream auth code asks of them: which Bearer token service to use
// (distribution token spec, RFC 6750 section 3) and whether Basic is offered (RFC 7617).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace regcache::http {

// Bounds on what a registry sends; real challenges are a few hundred bytes with at most four
// parameters (realm, service, scope, error).
inline constexpr size_t kWwwAuthenticateBytesMax = 8192;
inline constexpr size_t kChallengesMax = 32;
inline constexpr size_t kAuthParamsPerChallengeMax = 32;

struct AuthParam {
  std::string_view name; // a view into the parsed field value; empty for a token68
  std::string value;     // quoted-string unescaped (RFC 9110 section 5.6.4)
};

struct Challenge {
  std::string_view scheme; // a view into the parsed field value, case as sent
  // auth-params in field order; names are unique within a challenge, ignoring case. A challenge
  // carrying a token68 instead (RFC 9110 section 11.2) holds it as its only AuthParam, unnamed.
  std::vector<AuthParam> params;

  // The parameter called `name`, compared ignoring ASCII case (RFC 9110 section 11.2); nullptr
  // when absent.
  const AuthParam *param(std::string_view name) const;
};

// Parses a WWW-Authenticate field value (when a response has several such fields, join their
// values with ", " first, RFC 9110 section 5.3). Replaces the contents of `out`. Returns false,
// leaves `out` empty and, when `error` is not null, describes the first problem and its offset
// if the value is malformed, holds no challenge, or exceeds the bounds above. The views in `out`
// point into `value`, which must outlive them.
bool parse_www_authenticate(std::string_view value, std::vector<Challenge> &out,
                            std::string *error);

// The parameters of a Bearer challenge that tell a client where to ask for a token. service and
// scope are empty when the challenge omits them.
struct BearerChallenge {
  std::string realm;
  std::string service;
  std::string scope; // space-separated scopes, as sent
};

// The first Bearer challenge with a non-empty realm; nullopt when there is none.
std::optional<BearerChallenge> find_bearer(std::span<const Challenge> challenges);

// Whether any challenge uses the Basic scheme.
bool has_basic(std::span<const Challenge> challenges);

} // namespace regcache::http

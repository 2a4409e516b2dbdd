// Percent-encoding for what we send to token services: form bodies
// (application/x-www-form-urlencoded, for ACR's /oauth2/exchange and /oauth2/token and Entra's
// token endpoint) and query values (GET <realm>?service=...&scope=..., distribution token spec).
//
// Both encode a space as "%20", which form decoders and RFC 3986 decoders alike read as a space,
// where '+' would be a literal plus to the latter; a literal '+' is always "%2B". Hex digits are
// uppercase (RFC 3986 section 2.1).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace regcache::registry {

// "name=value&name=value", each name and value keeping only RFC 3986 unreserved characters
// (ALPHA DIGIT - . _ ~) and percent-encoding every other byte.
std::string form_urlencode(std::span<const std::pair<std::string_view, std::string_view>> fields);

// One query value: unreserved characters and ':' '/' ',' '@' stay as they are (all allowed in a
// query, RFC 3986 section 3.4, and they keep "repository:a/b:pull,push" readable in logs); every
// other byte is percent-encoded, including '&' '=' '+' '#' '?' ';' which delimit or alter query
// values, '%', and the space between scopes.
std::string url_query_escape(std::string_view value);

} // namespace regcache::registry

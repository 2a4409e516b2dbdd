#pragma once
// nginx's time syntax, as docker-registry-proxy users wrote it in MANIFEST_CACHE_*_TIME (values
// pasted into `proxy_cache_valid`).
#include <cstdint>
#include <optional>
#include <string_view>

namespace regcache::registry {

// Parses an nginx time value into milliseconds, following ngx_parse_time()
// (nginx src/core/ngx_parse.c): parts of `<digits><unit>` with the units
//   y = 365 d, M = 30 d, w = 7 d, d, h, m, s, ms
// each used at most once and in that (descending) order, e.g. "1h30m", "1y2M"; a bare number,
// alone or after the last unit, counts seconds ("30" = 30 s, "1h30" = 1 h 30 s), as in nginx.
// Returns nullopt for an empty value, an unknown or repeated unit, units out of order, a unit
// without a number, a sign, a fraction, any whitespace, or a total that overflows uint64 ms.
//
// Differences from nginx, each deliberate:
// * nginx parses either in seconds (proxy_cache_valid: y M w d h m s, no ms) or in
//   milliseconds (w d h m s ms, no y or M); this accepts the union, so "500ms" is a valid TTL.
// * nginx accepts a unit with no number ("1hm" = 1 h) and spaces between parts inside a quoted
//   value; both are refused here: the first is a typo, and docker-registry-proxy pastes the
//   value unquoted, where a space would have split the directive.
std::optional<uint64_t> parse_nginx_duration_ms(std::string_view text);

} // namespace regcache::registry

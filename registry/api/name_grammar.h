#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

// Hand-written validators for the grammars of the OCI distribution spec ("Pulling manifests")
// and of host names. No regex: each is one pass over the input, reading nothing past its end.
namespace regcache::registry {

inline constexpr size_t kRepositoryNameBytesMax = 255;
inline constexpr size_t kTagBytesMax = 128;
inline constexpr size_t kHostnameBytesMax = 253; // RFC 1035 section 2.3.4, without the root dot
inline constexpr size_t kHostnameLabelBytesMax = 63;

// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*, at most 255 bytes.
bool is_valid_repository_name(std::string_view name);

// [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
bool is_valid_tag(std::string_view tag);

// [a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+ ; for the registered algorithms the encoded part
// must be lowercase hex of the right length (sha256: 64, sha512: 128), per the OCI image spec.
bool is_valid_digest(std::string_view digest);

// A DNS host name in canonical lowercase form (RFC 1123 section 2.1): dot-separated labels of
// [a-z0-9-], 1-63 bytes, not starting or ending with '-', 253 bytes in all, no trailing dot.
// An all-numeric last label is refused so that "1.2.3.999" is not taken for a name.
bool is_valid_hostname(std::string_view host);

// Dotted-quad IPv4, each part 0-255 without leading zeros (which some parsers read as octal).
bool is_valid_ipv4(std::string_view address);

// An IPv6 address without brackets or zone (inet_pton syntax, RFC 4291 section 2.2).
bool is_valid_ipv6(std::string_view address);

// Decimal 1-65535 without sign or leading zeros.
std::optional<uint16_t> parse_port(std::string_view text);

} // namespace regcache::registry

#pragma once
// Sizes as operators write them: nginx's size syntax (docker-registry-proxy's CACHE_MAX_SIZE was
// pasted into `proxy_cache_path ... max_size=`), and a free-space floor given as a share of the
// file system or as a size.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace regcache::registry {

// Parses an nginx size into bytes, following ngx_parse_offset() (nginx src/core/ngx_parse.c):
// digits, then at most one unit k/K (KiB), m/M (MiB) or g/G (GiB): "32g", "500m", "1024k",
// "1048576". Returns nullopt for an empty value, a unit without digits, any other character
// (sign, fraction, space, "t"), or a value past nginx's limit, the largest off_t (2^63 - 1).
std::optional<uint64_t> parse_nginx_size_bytes(std::string_view text);

// How much of a file system must stay free: a whole percentage of its size ("5%", 0-99) or an
// nginx size ("2g").
struct SpaceFloor {
  bool is_percent = true;
  uint64_t value = 5; // percent, or bytes

  // The floor in bytes on a file system of `fs_total_bytes`.
  uint64_t bytes_of(uint64_t fs_total_bytes) const;
  friend bool operator==(const SpaceFloor &, const SpaceFloor &) = default;
};

std::optional<SpaceFloor> parse_space_floor(std::string_view text);

// For log lines: "512 bytes", "1.5 KiB", "340.2 MiB", "32.0 GiB".
std::string format_byte_size(uint64_t bytes);

} // namespace regcache::registry

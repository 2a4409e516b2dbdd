// Framing for the chunked transfer coding (RFC 9112 section 7.1) on the sending side. A chunk is
// format_chunk_header(size), then `size` data bytes, then kChunkTrailer; the body ends with
// kLastChunk (we send no trailer fields).
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace regcache::http {

inline constexpr size_t kChunkHeaderBytesMax = 18;          // 16 hex digits for 2^64 - 1, then CRLF
inline constexpr std::string_view kChunkTrailer = "\r\n";   // CRLF after each chunk's data
inline constexpr std::string_view kLastChunk = "0\r\n\r\n"; // last-chunk and the empty trailer

// Writes "<size in lowercase hex>\r\n" to the start of `out` and returns its length. `size` must
// not be 0: a zero-size chunk is the last chunk and would end the body early; use kLastChunk.
inline size_t format_chunk_header(std::span<char, kChunkHeaderBytesMax> out, uint64_t size) {
  assert(size != 0);
  static constexpr std::string_view kHexDigits = "0123456789abcdef";
  size_t digit_count = 1;
  // Bounded: at most 16 hex digits in a uint64_t.
  while (digit_count < 16 && (size >> (4 * digit_count)) != 0)
    ++digit_count;
  for (size_t i = 0; i < digit_count; ++i)
    out[digit_count - 1 - i] = kHexDigits[(size >> (4 * i)) & 0xf];
  out[digit_count] = '\r';
  out[digit_count + 1] = '\n';
  return digit_count + 2;
}

} // namespace regcache::http

#pragma once
// Range requests (RFC 9110 section 14): the Range header's byte ranges resolved against a
// representation's size, and the If-Range condition. Pure functions over the header values;
// the ranges go into a fixed array, so answering a range request allocates nothing.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace regcache::registry {

// The most range-specs a Range header may hold for regcache to honour it. Many small ranges
// are a known way to make a server do much work for little (CVE-2011-3192, "Apache Killer"),
// and RFC 9110 section 14.2 lets a server ignore the field; past this bound the whole
// representation is sent (200), which every client must accept. 64 is far more than any
// resuming or parallel-downloading client sends.
inline constexpr size_t kByteRangesMax = 64;

// One satisfiable range: bytes first..last, both included, last < the representation's size.
struct ByteRange {
  uint64_t first = 0;
  uint64_t last = 0;

  uint64_t bytes() const { return last - first + 1; }
  friend bool operator==(const ByteRange &, const ByteRange &) = default;
};

struct ByteRanges {
  enum class Verdict : uint8_t {
    Ignore,        // no Range header to honour: answer 200 with the whole representation
    Satisfiable,   // answer 206 with `ranges` (one: a single part; more: multipart/byteranges)
    Unsatisfiable, // answer 416 with Content-Range: bytes */<size>
  };
  Verdict verdict = Verdict::Ignore;
  size_t count = 0; // ranges[0..count): the satisfiable ranges, in the order requested
  std::array<ByteRange, kByteRangesMax> ranges{};

  std::span<const ByteRange> view() const { return {ranges.data(), count}; }
  uint64_t total_bytes() const;
};

// Resolves the Range header value `value` (OWS-trimmed) against a representation of
// `size_bytes`. Ignore when the value is syntactically invalid (RFC 9110 section 14.2: a server
// ignores a Range it cannot parse), names another unit than bytes, holds more than
// kByteRangesMax range-specs, or asks for more bytes than the whole representation holds
// (overlapping ranges); also for a suffix range of an empty representation (nothing can be
// described by a Content-Range, and the whole empty body is the answer).
ByteRanges parse_byte_ranges(std::string_view value, uint64_t size_bytes);

// Whether a Range header value could be honoured for some size: its syntax is valid and it
// holds at most kByteRangesMax range-specs. Lets a server that does not know the size yet
// decide whether waiting for it is worthwhile.
bool byte_ranges_are_valid(std::string_view value);

// The If-Range condition (RFC 9110 section 13.1.5): the Range header is honoured only when the
// If-Range value is an entity-tag that strongly matches `etag` (the representation's current,
// strong ETag). A weak tag never matches (section 8.8.3.2: If-Range uses the strong
// comparison), and an HTTP-date never does either, since regcache sends no Last-Modified.
bool if_range_permits(std::string_view if_range, std::string_view etag);

} // namespace regcache::registry

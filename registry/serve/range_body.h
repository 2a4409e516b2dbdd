#pragma once
// The body of a 206 answer to a Range request on a blob (RFC 9110 section 14): one part, or
// multipart/byteranges (section 14.6) with a delimiter and a part head before each part. Its
// length is known before anything is sent, so the connection frames it with Content-Length.
// Also what a request asks of its ranges, and how much of a part may be sent while the blob is
// still arriving. Everything here works in fixed buffers: range hits allocate nothing.
#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "http/head_writer.h"
#include "http/message_head.h"
#include "registry/api/byte_range.h"
#include "registry/api/digest.h"

namespace regcache::registry {

// The Range value a blob GET asks regcache to honour, or empty for "send the whole blob":
// not for a HEAD (Range is defined for GET only, RFC 9110 section 14.2), nor when the request
// carries more than one Range field (the field is not a list: two of them are invalid), nor
// when an If-Range is present that does not permit it (section 13.1.5, `etag` is the blob's).
std::string_view requested_ranges(const http::RequestHead &request, std::string_view etag);

// How far a reader may send part bytes [.., part_end) of a blob still being fetched, given
// what the fetch lets readers see (`readable_bytes`) and whether it is verified. The part that
// ends the response (`holds_final_byte`) keeps its last byte back until the blob is verified,
// as a whole-blob answer does: a digest mismatch always leaves the client short of a complete
// response, whichever range it asked for.
uint64_t sendable_part_end(uint64_t readable_bytes, bool verified, uint64_t part_end,
                           bool holds_final_byte);

class RangeBody {
public:
  // Room for the longest part head: delimiter, Content-Type and a Content-Range of three
  // 20-digit numbers.
  static constexpr size_t kPartHeadBytesMax = 256;
  static constexpr size_t kClosingBytesMax = 96;

  // `ranges` must be Satisfiable and outlive the body; `size_bytes` is the blob's size.
  RangeBody(const ByteRanges &ranges, const Digest &digest, uint64_t size_bytes);

  bool multipart() const { return ranges_.count > 1; }
  std::span<const ByteRange> ranges() const { return ranges_.view(); }
  // Content-Type and, for a single part, Content-Range. Framing is the connection's.
  void add_headers(http::HeadWriter &head) const;
  // The exact body length: every part, and for multipart every delimiter and part head.
  uint64_t body_bytes() const;
  // Multipart only: the delimiter and head sent before part `index`.
  std::string_view part_head(size_t index, std::array<char, kPartHeadBytesMax> &out) const;
  // Multipart only: the close-delimiter after the last part.
  std::string_view closing(std::array<char, kClosingBytesMax> &out) const;

private:
  // "blob-" and the digest's 64 hex digits (RFC 2046 allows 70 characters). A delimiter inside
  // a part would need the blob to contain its own sha256, which no one can construct; an
  // unverified blob is never completed (sendable_part_end), so a forged one only ever reaches a
  // client as a reset response.
  static constexpr std::string_view kBoundaryPrefix = "blob-";
  static constexpr size_t kBoundaryChars = kBoundaryPrefix.size() + kSha256HexChars;
  static_assert(kBoundaryChars <= 70, "RFC 2046 section 5.1.1: at most 70 characters");

  std::string_view boundary() const { return {boundary_.data(), boundary_.size()}; }

  const ByteRanges &ranges_;
  uint64_t size_bytes_;
  std::array<char, kBoundaryChars> boundary_;
};

} // namespace regcache::registry

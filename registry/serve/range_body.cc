#include "registry/serve/range_body.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "core/bounded_format.h"
#include "registry/serve/stored_file.h"

namespace regcache::registry {
namespace {

// "bytes <first>-<last>/<size>" (RFC 9110 section 14.4).
std::string_view format_content_range(const ByteRange &range, uint64_t size_bytes,
                                      std::array<char, 80> &out) {
  return core::format_bounded(out, "bytes {}-{}/{}", range.first, range.last, size_bytes);
}

// The only field of a request that may appear once and only once; null when absent or
// repeated.
const http::Header *find_single(const http::RequestHead &request, std::string_view name) {
  const http::Header *found = nullptr;
  for (const http::Header &header : request.headers) { // bounded by the parser's header array
    if (!http::iequals(header.name, name))
      continue;
    if (found != nullptr)
      return nullptr;
    found = &header;
  }
  return found;
}

} // namespace

std::string_view requested_ranges(const http::RequestHead &request, std::string_view etag) {
  if (request.method != "GET")
    return {};
  const http::Header *range = find_single(request, "Range");
  if (range == nullptr)
    return {};
  if (request.find("If-Range") != nullptr) {
    // A repeated If-Range is as unusable as a mismatching one: send the whole blob.
    const http::Header *if_range = find_single(request, "If-Range");
    if (if_range == nullptr || !if_range_permits(if_range->value, etag))
      return {};
  }
  return range->value;
}

uint64_t sendable_part_end(uint64_t readable_bytes, bool verified, uint64_t part_end,
                           bool holds_final_byte) {
  assert(part_end > 0);
  uint64_t limit = std::min(readable_bytes, part_end);
  if (holds_final_byte && !verified && limit == part_end)
    limit = part_end - 1;
  return limit;
}

RangeBody::RangeBody(const ByteRanges &ranges, const Digest &digest, uint64_t size_bytes)
    : ranges_(ranges), size_bytes_(size_bytes) {
  assert(ranges.verdict == ByteRanges::Verdict::Satisfiable && ranges.count > 0);
  std::memcpy(boundary_.data(), kBoundaryPrefix.data(), kBoundaryPrefix.size());
  format_digest_hex(digest, std::span<char, kSha256HexChars>(
                                boundary_.data() + kBoundaryPrefix.size(), kSha256HexChars));
}

void RangeBody::add_headers(http::HeadWriter &head) const {
  if (!multipart()) {
    std::array<char, 80> content_range;
    head.header("Content-Type", kBlobContentType);
    head.header("Content-Range",
                format_content_range(ranges_.ranges[0], size_bytes_, content_range));
    return;
  }
  std::array<char, 128> content_type;
  head.header("Content-Type",
              core::format_bounded(content_type, "multipart/byteranges; boundary={}", boundary()));
}

uint64_t RangeBody::body_bytes() const {
  if (!multipart())
    return ranges_.ranges[0].bytes();
  uint64_t total = 0;
  std::array<char, kPartHeadBytesMax> part;
  for (size_t index = 0; index < ranges_.count; ++index) // bounded by kByteRangesMax
    total += part_head(index, part).size() + ranges_.ranges[index].bytes();
  std::array<char, kClosingBytesMax> close;
  return total + closing(close).size();
}

std::string_view RangeBody::part_head(size_t index,
                                      std::array<char, kPartHeadBytesMax> &out) const {
  assert(multipart() && index < ranges_.count);
  std::array<char, 80> content_range;
  // Section 14.6: each part has its own Content-Type and Content-Range. The CRLF before a
  // delimiter belongs to the delimiter (RFC 2046 section 5.1.1), so the first part's is left
  // out: the body starts with the dash-boundary.
  std::string_view text =
      core::format_bounded(out, "{}--{}\r\nContent-Type: {}\r\nContent-Range: {}\r\n\r\n",
                           index == 0 ? "" : "\r\n", boundary(), kBlobContentType,
                           format_content_range(ranges_.ranges[index], size_bytes_, content_range));
  assert(text.size() < out.size()); // never cut: the lengths above are bounded
  return text;
}

std::string_view RangeBody::closing(std::array<char, kClosingBytesMax> &out) const {
  assert(multipart());
  std::string_view text = core::format_bounded(out, "\r\n--{}--\r\n", boundary());
  assert(text.size() < out.size());
  return text;
}

} // namespace regcache::registry

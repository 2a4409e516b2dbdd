#include "registry/api/byte_range.h"

#include <cassert>
#include <limits>
#include <optional>

#include "http/message_head.h"

namespace regcache::registry {
namespace {

constexpr uint64_t kSaturated = std::numeric_limits<uint64_t>::max();

// One range-spec (RFC 9110 section 14.1.1) before the size is known.
struct RangeSpec {
  enum class Form : uint8_t {
    FirstLast, // int-range with a last-pos: first..last
    From,      // int-range without one: first..end
    Suffix,    // suffix-range: the final `last` bytes
  };
  Form form = Form::FirstLast;
  uint64_t first = 0;
  uint64_t last = 0; // last-pos, or the suffix-length
};

enum class ScanOutcome : uint8_t { Valid, Invalid, TooMany };

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// 1*DIGIT from text[*at], saturating at 2^64 - 1: a first-pos that large is past any file and a
// last-pos or suffix-length that large means "to the end" (section 14.1.1 clamps both to the
// size), so the exact value of a longer number never matters.
bool parse_digits(std::string_view text, size_t *at, uint64_t *value) {
  const size_t start = *at;
  uint64_t number = 0;
  for (; *at < text.size() && is_digit(text[*at]); ++*at) { // bounded by the text
    const uint64_t digit = static_cast<uint64_t>(text[*at] - '0');
    number = number > (kSaturated - digit) / 10 ? kSaturated : number * 10 + digit;
  }
  *value = number;
  return *at > start;
}

// range-spec = int-range / suffix-range (section 14.1.1); `element` is non-empty, OWS-trimmed.
std::optional<RangeSpec> parse_range_spec(std::string_view element) {
  assert(!element.empty());
  RangeSpec spec;
  size_t at = 0;
  if (element.front() == '-') {
    // suffix-range = "-" suffix-length
    at = 1;
    if (!parse_digits(element, &at, &spec.last) || at != element.size())
      return std::nullopt;
    spec.form = RangeSpec::Form::Suffix;
    return spec;
  }
  // int-range = first-pos "-" [ last-pos ]
  if (!parse_digits(element, &at, &spec.first))
    return std::nullopt;
  if (at == element.size() || element[at] != '-')
    return std::nullopt;
  ++at;
  if (at == element.size()) {
    spec.form = RangeSpec::Form::From;
    return spec;
  }
  if (!parse_digits(element, &at, &spec.last) || at != element.size())
    return std::nullopt;
  // Section 14.1.1: "An int-range is invalid if the last-pos value is present and less than
  // the first-pos."
  if (spec.last < spec.first)
    return std::nullopt;
  spec.form = RangeSpec::Form::FirstLast;
  return spec;
}

// Calls visit(spec) for each range-spec of a Range value, in order, and says whether the value
// is a ranges-specifier regcache honours. `visit` may be called before a later element turns
// out invalid: callers use what it collected only for a Valid outcome.
template <typename Visit> ScanOutcome scan_range_specs(std::string_view value, Visit &&visit) {
  // ranges-specifier = range-unit "=" range-set; range units are case-insensitive (section
  // 14.1), and "bytes" is the only one a server must know (section 14.1.2). Another unit is
  // ignored like invalid syntax (section 14.2).
  constexpr std::string_view kBytesUnit = "bytes=";
  if (value.size() < kBytesUnit.size() ||
      !http::iequals(value.substr(0, kBytesUnit.size()), kBytesUnit))
    return ScanOutcome::Invalid;
  std::string_view set = value.substr(kBytesUnit.size());
  size_t spec_count = 0;
  // range-set = 1#range-spec: comma-separated with OWS around, and a recipient accepts and
  // ignores empty elements (section 5.6.1.2). Bounded: each turn consumes one element.
  while (!set.empty()) {
    const size_t comma = set.find(',');
    const std::string_view element = http::trim_ows(set.substr(0, comma));
    set = comma == std::string_view::npos ? std::string_view() : set.substr(comma + 1);
    if (element.empty())
      continue;
    const std::optional<RangeSpec> spec = parse_range_spec(element);
    if (!spec)
      return ScanOutcome::Invalid;
    if (++spec_count > kByteRangesMax)
      return ScanOutcome::TooMany;
    visit(*spec);
  }
  return spec_count == 0 ? ScanOutcome::Invalid : ScanOutcome::Valid;
}

// The bytes a range-spec selects of a representation of `size_bytes`, or nullopt when it is
// unsatisfiable (section 14.1.1: a first-pos at or past the size, a zero suffix-length).
std::optional<ByteRange> resolve_range_spec(const RangeSpec &spec, uint64_t size_bytes) {
  switch (spec.form) {
  case RangeSpec::Form::FirstLast:
  case RangeSpec::Form::From:
    if (spec.first >= size_bytes)
      return std::nullopt;
    // A last-pos at or past the end means the end (section 14.1.1).
    return ByteRange{spec.first, spec.form == RangeSpec::Form::From
                                     ? size_bytes - 1
                                     : std::min(spec.last, size_bytes - 1)};
  case RangeSpec::Form::Suffix:
    if (spec.last == 0 || size_bytes == 0)
      return std::nullopt;
    // A suffix longer than the representation selects all of it (section 14.1.1).
    return ByteRange{spec.last >= size_bytes ? 0 : size_bytes - spec.last, size_bytes - 1};
  }
  return std::nullopt;
}

} // namespace

uint64_t ByteRanges::total_bytes() const {
  uint64_t total = 0;
  for (const ByteRange &range : view())
    total += range.bytes();
  return total;
}

ByteRanges parse_byte_ranges(std::string_view value, uint64_t size_bytes) {
  ByteRanges result;
  bool empty_suffix = false;
  uint64_t selected_bytes = 0;
  bool more_than_whole = false;
  const ScanOutcome outcome = scan_range_specs(value, [&](const RangeSpec &spec) {
    const std::optional<ByteRange> range = resolve_range_spec(spec, size_bytes);
    if (!range) {
      // Section 14.1.1 counts a non-zero suffix-length as satisfiable even for an empty
      // representation, but no Content-Range can describe zero bytes of it.
      if (spec.form == RangeSpec::Form::Suffix && spec.last > 0)
        empty_suffix = true;
      return; // an unsatisfiable range beside satisfiable ones is left out (section 15.3.7)
    }
    assert(result.count < kByteRangesMax); // the scan stops past kByteRangesMax specs
    result.ranges[result.count++] = *range;
    // Each range is at most size_bytes, so the sum stays below 2 * size_bytes: no overflow
    // before this check stops it.
    selected_bytes += range->bytes();
    if (selected_bytes > size_bytes)
      more_than_whole = true;
  });
  if (outcome != ScanOutcome::Valid) {
    // Invalid syntax or too many ranges: the Range header is ignored (section 14.2).
    return ByteRanges{};
  }
  if (more_than_whole) {
    // Overlapping ranges would send more than the whole blob; section 14.2 lets a server ignore
    // such a header, and the whole representation is the cheaper, equally correct answer.
    return ByteRanges{};
  }
  if (result.count == 0) {
    if (empty_suffix)
      return ByteRanges{};
    result.verdict = ByteRanges::Verdict::Unsatisfiable;
    return result;
  }
  result.verdict = ByteRanges::Verdict::Satisfiable;
  return result;
}

bool byte_ranges_are_valid(std::string_view value) {
  return scan_range_specs(value, [](const RangeSpec &) {}) == ScanOutcome::Valid;
}

bool if_range_permits(std::string_view if_range, std::string_view etag) {
  // Our own ETag is strong: a quoted opaque-tag, no W/ prefix.
  assert(etag.size() >= 2 && etag.front() == '"' && etag.back() == '"');
  // Strong comparison (section 8.8.3.2): both tags strong and their octets identical. A weak
  // tag starts with W/ and so never equals a strong one; an HTTP-date never starts with a quote.
  return if_range == etag;
}

} // namespace regcache::registry

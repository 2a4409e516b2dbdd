// libFuzzer target: parse_request and ChunkedDecoder on arbitrary bytes. Checks that nothing reads
// outside the input (ASan), that results are consistent (consumed within the input, views inside
// the head, the prefix before a complete head is incomplete, results stable as bytes arrive, also
// when the parse resumes on a HeadScan), and
// that the chunked decoder gives the same answer however its input is split.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "http/request_parser.h"
#include "tests/fuzz/chunked_decode_check.h"

namespace {

using namespace regcache::http;
using regcache::http::fuzz::view_is_inside;

// Small limits so the fuzzer reaches the 431 paths.
constexpr ParseLimits kLimits{.header_bytes_max = 2048, .header_count_max = 16};

struct Parsed {
  ParseResult result;
  RequestHead head;
  std::array<Header, 24> storage;
};

void parse(std::span<const char> input, Parsed &parsed) {
  parsed.result = parse_request(input, parsed.storage, kLimits, parsed.head);
}

bool same_outcome(const ParseResult &a, const ParseResult &b) {
  return a.kind == b.kind && a.consumed == b.consumed && a.error_status == b.error_status &&
         a.error_offset == b.error_offset && a.error_reason == b.error_reason;
}

void check_complete(std::span<const char> input, const Parsed &parsed) {
  const ParseResult &result = parsed.result;
  const RequestHead &head = parsed.head;
  FUZZ_CHECK(result.consumed >= 4 && result.consumed <= kLimits.header_bytes_max);
  FUZZ_CHECK(find_head_end(input, 0) == result.consumed);
  const std::span<const char> head_bytes = input.first(result.consumed);
  FUZZ_CHECK(!head.method.empty() && view_is_inside(head_bytes, head.method));
  FUZZ_CHECK(!head.target.empty() && view_is_inside(head_bytes, head.target));
  FUZZ_CHECK(head.path == "/" || view_is_inside(head_bytes, head.path));
  FUZZ_CHECK(view_is_inside(head_bytes, head.query));
  FUZZ_CHECK(view_is_inside(head_bytes, head.host));
  FUZZ_CHECK(head.version_minor <= 1);
  FUZZ_CHECK(head.framing != BodyFraming::UntilClose);
  FUZZ_CHECK(head.headers.data() == parsed.storage.data());
  FUZZ_CHECK(head.headers.size() <= kLimits.header_count_max);
  for (const Header &header : head.headers) {
    FUZZ_CHECK(!header.name.empty() && view_is_inside(head_bytes, header.name));
    FUZZ_CHECK(view_is_inside(head_bytes, header.value));
    FUZZ_CHECK(header.value.find_first_of("\r\n") == std::string_view::npos);
  }
  // One byte short of the head is a head that has not ended yet.
  Parsed shorter;
  parse(input.first(result.consumed - 1), shorter);
  FUZZ_CHECK(shorter.result.incomplete());
  // The head alone parses the same.
  Parsed exact;
  parse(head_bytes, exact);
  FUZZ_CHECK(same_outcome(exact.result, result));
  // A body that says it is chunked goes through the decoder.
  if (head.framing == BodyFraming::Chunked)
    regcache::http::fuzz::check_chunked_decoder(input.subspan(result.consumed));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::span<const char> input(reinterpret_cast<const char *>(data), size);
  Parsed parsed;
  parse(input, parsed);
  const ParseResult &result = parsed.result;
  FUZZ_CHECK(result.consumed <= size);
  switch (result.kind) {
  case ParseResult::Kind::Complete:
    check_complete(input, parsed);
    break;
  case ParseResult::Kind::Incomplete:
    FUZZ_CHECK(result.consumed == 0);
    FUZZ_CHECK(find_head_end(input, 0) == 0 && size <= kLimits.header_bytes_max);
    break;
  case ParseResult::Kind::Error:
    FUZZ_CHECK(result.error_status == 400 || result.error_status == 431 ||
               result.error_status == 501 || result.error_status == 505);
    FUZZ_CHECK(!result.error_reason.empty());
    FUZZ_CHECK(result.error_offset <= size);
    break;
  }
  // Results settle: a prefix that is not incomplete already gives the whole input's result.
  Parsed prefix;
  parse(input.first(size / 2), prefix);
  if (!prefix.result.incomplete())
    FUZZ_CHECK(same_outcome(prefix.result, result));
  // Resumed after the prefix on the same HeadScan, the parse gives what a fresh one gives.
  HeadScan scan;
  Parsed resumed;
  resumed.result =
      parse_request(input.first(size / 2), resumed.storage, kLimits, resumed.head, scan);
  if (resumed.result.incomplete()) {
    resumed.result = parse_request(input, resumed.storage, kLimits, resumed.head, scan);
    FUZZ_CHECK(same_outcome(resumed.result, result));
  }
  // find_head_end resumed after the prefix finds what a full scan finds.
  if (find_head_end(input.first(size / 2), 0) == 0)
    FUZZ_CHECK(find_head_end(input, size / 2) == find_head_end(input, 0));
  // The same bytes as a chunked body.
  regcache::http::fuzz::check_chunked_decoder(input);
  return 0;
}

// libFuzzer target: parse_response (as the answer to a GET and to a HEAD) and ChunkedDecoder on
// arbitrary bytes, with the same invariants as request_parser_fuzz.cc.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "http/response_parser.h"
#include "tests/fuzz/chunked_decode_check.h"

namespace {

using namespace regcache::http;
using regcache::http::fuzz::view_is_inside;

constexpr ParseLimits kLimits{.header_bytes_max = 2048, .header_count_max = 16};

struct Parsed {
  ParseResult result;
  ResponseHead head;
  std::array<Header, 24> storage;
};

void parse(std::span<const char> input, bool request_was_head, Parsed &parsed) {
  parsed.result = parse_response(input, parsed.storage, kLimits, request_was_head, parsed.head);
}

bool same_outcome(const ParseResult &a, const ParseResult &b) {
  return a.kind == b.kind && a.consumed == b.consumed && a.error_status == b.error_status &&
         a.error_offset == b.error_offset && a.error_reason == b.error_reason;
}

void check_complete(std::span<const char> input, bool request_was_head, const Parsed &parsed) {
  const ParseResult &result = parsed.result;
  const ResponseHead &head = parsed.head;
  FUZZ_CHECK(result.consumed >= 4 && result.consumed <= kLimits.header_bytes_max);
  FUZZ_CHECK(find_head_end(input, 0) == result.consumed);
  const std::span<const char> head_bytes = input.first(result.consumed);
  FUZZ_CHECK(head.status >= 100 && head.status <= 599);
  FUZZ_CHECK(view_is_inside(head_bytes, head.reason));
  FUZZ_CHECK(head.version_minor <= 1);
  const bool no_body =
      request_was_head || head.status < 200 || head.status == 204 || head.status == 304;
  if (no_body)
    FUZZ_CHECK(head.framing == BodyFraming::None);
  if (head.framing == BodyFraming::UntilClose)
    FUZZ_CHECK(!head.keep_alive);
  FUZZ_CHECK(head.headers.data() == parsed.storage.data());
  FUZZ_CHECK(head.headers.size() <= kLimits.header_count_max);
  for (const Header &header : head.headers) {
    FUZZ_CHECK(!header.name.empty() && view_is_inside(head_bytes, header.name));
    FUZZ_CHECK(view_is_inside(head_bytes, header.value));
  }
  Parsed shorter;
  parse(input.first(result.consumed - 1), request_was_head, shorter);
  FUZZ_CHECK(shorter.result.incomplete());
  Parsed exact;
  parse(head_bytes, request_was_head, exact);
  FUZZ_CHECK(same_outcome(exact.result, result));
  if (head.framing == BodyFraming::Chunked)
    regcache::http::fuzz::check_chunked_decoder(input.subspan(result.consumed));
}

void check_response(std::span<const char> input, bool request_was_head) {
  Parsed parsed;
  parse(input, request_was_head, parsed);
  const ParseResult &result = parsed.result;
  FUZZ_CHECK(result.consumed <= input.size());
  switch (result.kind) {
  case ParseResult::Kind::Complete:
    check_complete(input, request_was_head, parsed);
    break;
  case ParseResult::Kind::Incomplete:
    FUZZ_CHECK(result.consumed == 0);
    FUZZ_CHECK(find_head_end(input, 0) == 0 && input.size() <= kLimits.header_bytes_max);
    break;
  case ParseResult::Kind::Error:
    FUZZ_CHECK(result.error_status == 400 || result.error_status == 431 ||
               result.error_status == 505);
    FUZZ_CHECK(!result.error_reason.empty());
    FUZZ_CHECK(result.error_offset <= input.size());
    break;
  }
  Parsed prefix;
  parse(input.first(input.size() / 2), request_was_head, prefix);
  if (!prefix.result.incomplete())
    FUZZ_CHECK(same_outcome(prefix.result, result));
  // Resumed after the prefix on the same HeadScan, the parse gives what a fresh one gives.
  HeadScan scan;
  Parsed resumed;
  resumed.result = parse_response(input.first(input.size() / 2), resumed.storage, kLimits,
                                  request_was_head, resumed.head, scan);
  if (resumed.result.incomplete()) {
    resumed.result =
        parse_response(input, resumed.storage, kLimits, request_was_head, resumed.head, scan);
    FUZZ_CHECK(same_outcome(resumed.result, result));
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::span<const char> input(reinterpret_cast<const char *>(data), size);
  check_response(input, false);
  check_response(input, true);
  regcache::http::fuzz::check_chunked_decoder(input);
  return 0;
}

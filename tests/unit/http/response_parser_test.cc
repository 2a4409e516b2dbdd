#include "http/response_parser.h"

#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "tests/unit/http/guarded_input.h"

namespace regcache::http {
namespace {

using testing::framing_name;
using testing::kind_name;
using testing::parse_whole_guarded_and_bytewise;
using testing::view_is_inside;
using Kind = ParseResult::Kind;

// An owned copy of everything parse_response reports, comparable across runs.
struct ResponseOutcome {
  Kind kind = Kind::Incomplete;
  size_t consumed = 0;
  uint16_t error_status = 0;
  size_t error_offset = 0;
  std::string error_reason;
  int status = -1;
  std::string reason;
  int version_minor = -1;
  BodyFraming framing = BodyFraming::None;
  uint64_t content_length = 0;
  bool keep_alive = false;
  std::vector<std::pair<std::string, std::string>> headers;

  bool operator==(const ResponseOutcome &) const = default;
};

[[maybe_unused]] void PrintTo(const ResponseOutcome &o, std::ostream *os) {
  *os << kind_name(o.kind) << " consumed=" << o.consumed;
  if (o.kind == Kind::Error)
    *os << " status=" << o.error_status << " offset=" << o.error_offset << " reason=\""
        << o.error_reason << "\"";
  if (o.kind == Kind::Complete)
    *os << " " << o.status << " \"" << o.reason << "\" 1." << o.version_minor
        << " framing=" << framing_name(o.framing) << " length=" << o.content_length
        << " keep_alive=" << o.keep_alive << " headers=" << o.headers.size();
}

// From scratch, or resumed with `scan`.
ResponseOutcome parse_once(std::span<const char> input, bool request_was_head,
                           const ParseLimits &limits, size_t storage_count, HeadScan *scan) {
  std::vector<Header> storage(storage_count);
  ResponseHead head;
  const ParseResult result =
      scan != nullptr ? parse_response(input, storage, limits, request_was_head, head, *scan)
                      : parse_response(input, storage, limits, request_was_head, head);
  ResponseOutcome outcome;
  outcome.kind = result.kind;
  outcome.consumed = result.consumed;
  outcome.error_status = result.error_status;
  outcome.error_offset = result.error_offset;
  outcome.error_reason = std::string(result.error_reason);
  EXPECT_LE(result.consumed, input.size());
  if (result.kind != Kind::Complete)
    return outcome;
  const std::span<const char> head_bytes = input.first(result.consumed);
  EXPECT_TRUE(view_is_inside(head_bytes, head.reason));
  outcome.status = head.status;
  outcome.reason = head.reason;
  outcome.version_minor = head.version_minor;
  outcome.framing = head.framing;
  outcome.content_length = head.content_length;
  outcome.keep_alive = head.keep_alive;
  for (const Header &header : head.headers) {
    EXPECT_TRUE(view_is_inside(head_bytes, header.name));
    EXPECT_TRUE(view_is_inside(head_bytes, header.value));
    outcome.headers.emplace_back(header.name, header.value);
  }
  return outcome;
}

// Parses whole, flush against a guard page, and byte by byte (from scratch and resumed); all
// must agree.
ResponseOutcome parse(std::string_view input, bool request_was_head = false,
                      ParseLimits limits = {}, size_t storage_count = 64,
                      uint64_t *resumed_scanned_bytes = nullptr) {
  return parse_whole_guarded_and_bytewise(
      input,
      [&](std::span<const char> bytes, HeadScan *scan) {
        return parse_once(bytes, request_was_head, limits, storage_count, scan);
      },
      resumed_scanned_bytes);
}

void expect_error(const ResponseOutcome &outcome, uint16_t status, std::string_view reason) {
  EXPECT_EQ(outcome.kind, Kind::Error);
  EXPECT_EQ(outcome.error_status, status);
  EXPECT_EQ(outcome.error_reason, reason);
}

// ---- Status line (RFC 9112 section 4) ----

TEST(ResponseParser, ParsesStatusLineHeadersAndContentLength) {
  const std::string_view head =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n";
  const ResponseOutcome o = parse(std::string(head) + "{}");
  ASSERT_EQ(o.kind, Kind::Complete);
  EXPECT_EQ(o.consumed, head.size());
  EXPECT_EQ(o.status, 200);
  EXPECT_EQ(o.reason, "OK");
  EXPECT_EQ(o.version_minor, 1);
  EXPECT_EQ(o.framing, BodyFraming::ContentLength);
  EXPECT_EQ(o.content_length, 2u);
  EXPECT_TRUE(o.keep_alive);
  ASSERT_EQ(o.headers.size(), 2u);
  EXPECT_EQ(o.headers[0].second, "application/json");
}

TEST(ResponseParser, KeepsSpacesInsideReasonPhrase) {
  EXPECT_EQ(parse("HTTP/1.1 404 Not  Found\r\nContent-Length: 0\r\n\r\n").reason, "Not  Found");
}

TEST(ResponseParser, AcceptsEmptyReasonPhrase) {
  const ResponseOutcome o = parse("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(o.kind, Kind::Complete);
  EXPECT_EQ(o.reason, "");
}

TEST(ResponseParser, AcceptsStatusLineWithoutSpaceAfterStatusCode) {
  const ResponseOutcome o = parse("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(o.kind, Kind::Complete);
  EXPECT_EQ(o.status, 200);
}

TEST(ResponseParser, RejectsTwoDigitStatusCode) {
  expect_error(parse("HTTP/1.1 20 OK\r\n\r\n"), 400, "status code is not 3 digits");
}

TEST(ResponseParser, RejectsFourDigitStatusCode) {
  expect_error(parse("HTTP/1.1 2000 OK\r\n\r\n"), 400, "status code is not 3 digits");
}

TEST(ResponseParser, RejectsNonDigitStatusCode) {
  expect_error(parse("HTTP/1.1 2x0 OK\r\n\r\n"), 400, "status code is not 3 digits");
}

TEST(ResponseParser, RejectsStatusCodeBelow100) {
  expect_error(parse("HTTP/1.1 099 Low\r\n\r\n"), 400, "status code out of range");
}

TEST(ResponseParser, RejectsStatusCodeAbove599) {
  expect_error(parse("HTTP/1.1 600 High\r\n\r\n"), 400, "status code out of range");
}

TEST(ResponseParser, AcceptsStatusCode599) {
  EXPECT_EQ(parse("HTTP/1.1 599 Edge\r\nContent-Length: 0\r\n\r\n").status, 599);
}

TEST(ResponseParser, RejectsHttp2VersionWith505) {
  expect_error(parse("HTTP/2.0 200 OK\r\n\r\n"), 505, "unsupported HTTP version");
}

TEST(ResponseParser, RejectsMalformedVersion) {
  expect_error(parse("HTTP/1 200 OK\r\n\r\n"), 400, "malformed HTTP version");
}

TEST(ResponseParser, RejectsControlCharacterInReasonPhrase) {
  expect_error(parse("HTTP/1.1 200 O\x01K\r\n\r\n"), 400, "control character in reason phrase");
}

TEST(ResponseParser, RejectsEmptyLineBeforeStatusLine) {
  expect_error(parse("\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), 400,
               "malformed HTTP version");
}

// ---- Framing (RFC 9112 section 6.3) ----

TEST(ResponseParser, ParsesChunkedResponse) {
  const ResponseOutcome o = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(o.framing, BodyFraming::Chunked);
  EXPECT_TRUE(o.keep_alive);
}

TEST(ResponseParser, TreatsGzipThenChunkedAsChunked) {
  EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").framing,
            BodyFraming::Chunked);
}

TEST(ResponseParser, ReadsUntilCloseWhenFinalCodingIsNotChunked) {
  const ResponseOutcome o = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
  EXPECT_EQ(o.framing, BodyFraming::UntilClose);
  EXPECT_FALSE(o.keep_alive);
}

TEST(ResponseParser, ReadsUntilCloseWithoutFramingFields) {
  const ResponseOutcome o = parse("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_EQ(o.framing, BodyFraming::UntilClose);
  EXPECT_FALSE(o.keep_alive);
}

TEST(ResponseParser, RejectsContentLengthWithTransferEncoding) {
  expect_error(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"),
               400, "Content-Length with Transfer-Encoding");
}

TEST(ResponseParser, RejectsChunkedAppliedTwice) {
  expect_error(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip, chunked\r\n\r\n"), 400,
               "chunked applied more than once");
}

TEST(ResponseParser, RejectsDifferingContentLengths) {
  expect_error(parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"), 400,
               "differing Content-Length values");
}

TEST(ResponseParser, RejectsNonDigitContentLength) {
  expect_error(parse("HTTP/1.1 200 OK\r\nContent-Length: 3x\r\n\r\n"), 400,
               "invalid Content-Length");
}

TEST(ResponseParser, AcceptsCommaListOfIdenticalContentLengths) {
  const ResponseOutcome o = parse("HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n");
  EXPECT_EQ(o.framing, BodyFraming::ContentLength);
  EXPECT_EQ(o.content_length, 3u);
}

TEST(ResponseParser, RejectsTransferEncodingInHttp10) {
  expect_error(parse("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), 400,
               "Transfer-Encoding in HTTP/1.0");
}

TEST(ResponseParser, GivesHeadResponseNoBodyDespiteContentLength) {
  const ResponseOutcome o = parse("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", true);
  ASSERT_EQ(o.kind, Kind::Complete);
  EXPECT_EQ(o.framing, BodyFraming::None);
  EXPECT_EQ(o.content_length, 1234u); // the representation's size, for HEAD caching
  EXPECT_TRUE(o.keep_alive);
}

TEST(ResponseParser, GivesHeadResponseNoBodyDespiteChunked) {
  const ResponseOutcome o = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true);
  EXPECT_EQ(o.framing, BodyFraming::None);
  EXPECT_TRUE(o.keep_alive);
}

TEST(ResponseParser, GivesHeadResponseWithoutFramingFieldsNoBodyAndKeepsAlive) {
  const ResponseOutcome o = parse("HTTP/1.1 200 OK\r\n\r\n", true);
  EXPECT_EQ(o.framing, BodyFraming::None);
  EXPECT_TRUE(o.keep_alive);
}

TEST(ResponseParser, GivesNoContentResponseNoBody) {
  const ResponseOutcome o = parse("HTTP/1.1 204 No Content\r\n\r\n");
  EXPECT_EQ(o.framing, BodyFraming::None);
  EXPECT_TRUE(o.keep_alive);
}

TEST(ResponseParser, GivesNotModifiedResponseNoBodyDespiteContentLength) {
  const ResponseOutcome o = parse("HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n");
  EXPECT_EQ(o.framing, BodyFraming::None);
  EXPECT_EQ(o.content_length, 99u);
  EXPECT_TRUE(o.keep_alive);
}

TEST(ResponseParser, EndsInterimResponseAtItsHeadAndFindsTheFinalOneAfter) {
  const std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
  const std::string final_response = "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
  const std::string both = interim + final_response;
  const ResponseOutcome o1 = parse(both);
  ASSERT_EQ(o1.kind, Kind::Complete);
  EXPECT_EQ(o1.status, 100);
  EXPECT_EQ(o1.framing, BodyFraming::None);
  EXPECT_EQ(o1.consumed, interim.size());
  const ResponseOutcome o2 = parse(std::string_view(both).substr(o1.consumed));
  EXPECT_EQ(o2.status, 201);
  EXPECT_EQ(o2.consumed, final_response.size());
}

// ---- Persistence (RFC 9112 section 9.3) ----

TEST(ResponseParser, ClosesHttp10ResponseByDefault) {
  EXPECT_FALSE(parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
}

TEST(ResponseParser, KeepsHttp10ResponseAliveWithKeepAlive) {
  EXPECT_TRUE(
      parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n").keep_alive);
}

TEST(ResponseParser, ClosesOnConnectionClose) {
  EXPECT_FALSE(
      parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").keep_alive);
}

// ---- Field lines and limits (shared rules, checked on responses too) ----

TEST(ResponseParser, RejectsObsoleteLineFolding) {
  expect_error(parse("HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\nContent-Length: 0\r\n\r\n"), 400,
               "obsolete line folding");
}

TEST(ResponseParser, RejectsSpaceBetweenFieldNameAndColon) {
  expect_error(parse("HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n"), 400,
               "whitespace between field name and colon");
}

TEST(ResponseParser, RejectsBareLfLineEnding) {
  expect_error(parse("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n"), 400, "bare LF line ending");
}

TEST(ResponseParser, RejectsBareCrInFieldValue) {
  expect_error(parse("HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n"), 400, "bare CR in head");
}

TEST(ResponseParser, RejectsOversizedHeadBeforeItEnds) {
  const ParseLimits limits{.header_bytes_max = 48, .header_count_max = 64};
  expect_error(parse("HTTP/1.1 200 OK\r\nX-Long: " + std::string(64, 'x'), false, limits), 431,
               "header block too large");
}

TEST(ResponseParser, RejectsMoreFieldsThanStorage) {
  expect_error(parse("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", false, {}, 2), 431,
               "too many header fields");
}

TEST(ResponseParser, AHeadFedByteByByteIsScannedInLinearTime) {
  std::string input = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n";
  for (int field = 0; input.size() < 12 * 1024; ++field)
    input += "X-Field-" + std::to_string(field) + ": some value\r\n";
  input += "\r\n";
  ParseLimits limits;
  limits.header_count_max = 1024;
  uint64_t scanned_bytes = 0;
  const ResponseOutcome o = parse(input, false, limits, 1024, &scanned_bytes);
  ASSERT_EQ(o.kind, Kind::Complete);
  EXPECT_EQ(o.consumed, input.size());
  // A few bytes per byte fed (see the request parser's test); a rescan per call would be
  // quadratic.
  EXPECT_GT(scanned_bytes, input.size());
  EXPECT_LE(scanned_bytes, 8 * input.size());
}

} // namespace
} // namespace regcache::http

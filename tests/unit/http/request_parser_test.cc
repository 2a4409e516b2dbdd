#include "http/request_parser.h"

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

// An owned copy of everything parse_request reports, comparable across runs.
struct RequestOutcome {
  Kind kind = Kind::Incomplete;
  size_t consumed = 0;
  uint16_t error_status = 0;
  size_t error_offset = 0;
  std::string error_reason;
  std::string method, target, path, query, host;
  int version_minor = -1;
  BodyFraming framing = BodyFraming::None;
  uint64_t content_length = 0;
  bool keep_alive = false;
  std::vector<std::pair<std::string, std::string>> headers;

  bool operator==(const RequestOutcome &) const = default;
};

[[maybe_unused]] void PrintTo(const RequestOutcome &o, std::ostream *os) {
  *os << kind_name(o.kind) << " consumed=" << o.consumed;
  if (o.kind == Kind::Error)
    *os << " status=" << o.error_status << " offset=" << o.error_offset << " reason=\""
        << o.error_reason << "\"";
  if (o.kind == Kind::Complete)
    *os << " method=" << o.method << " target=" << o.target << " path=" << o.path
        << " query=" << o.query << " host=" << o.host << " 1." << o.version_minor
        << " framing=" << framing_name(o.framing) << " length=" << o.content_length
        << " keep_alive=" << o.keep_alive << " headers=" << o.headers.size();
}

// From scratch, or resumed with `scan`.
RequestOutcome parse_once(std::span<const char> input, const ParseLimits &limits,
                          size_t storage_count, HeadScan *scan) {
  std::vector<Header> storage(storage_count);
  RequestHead head;
  const ParseResult result = scan != nullptr ? parse_request(input, storage, limits, head, *scan)
                                             : parse_request(input, storage, limits, head);
  RequestOutcome outcome;
  outcome.kind = result.kind;
  outcome.consumed = result.consumed;
  outcome.error_status = result.error_status;
  outcome.error_offset = result.error_offset;
  outcome.error_reason = std::string(result.error_reason);
  EXPECT_LE(result.consumed, input.size());
  if (result.kind != Kind::Complete)
    return outcome;
  const std::span<const char> head_bytes = input.first(result.consumed);
  EXPECT_TRUE(view_is_inside(head_bytes, head.method));
  EXPECT_TRUE(view_is_inside(head_bytes, head.target));
  EXPECT_TRUE(head.path == "/" || view_is_inside(head_bytes, head.path));
  EXPECT_TRUE(view_is_inside(head_bytes, head.query));
  EXPECT_TRUE(view_is_inside(head_bytes, head.host));
  EXPECT_LE(head.headers.size(), storage_count);
  outcome.method = head.method;
  outcome.target = head.target;
  outcome.path = head.path;
  outcome.query = head.query;
  outcome.host = head.host;
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
RequestOutcome parse(std::string_view input, ParseLimits limits = {}, size_t storage_count = 64,
                     uint64_t *resumed_scanned_bytes = nullptr) {
  return parse_whole_guarded_and_bytewise(
      input,
      [&](std::span<const char> bytes, HeadScan *scan) {
        return parse_once(bytes, limits, storage_count, scan);
      },
      resumed_scanned_bytes);
}

void expect_error(const RequestOutcome &outcome, uint16_t status, std::string_view reason) {
  EXPECT_EQ(outcome.kind, Kind::Error);
  EXPECT_EQ(outcome.error_status, status);
  EXPECT_EQ(outcome.error_reason, reason);
}

// ---- Request line and basics ----

TEST(RequestParser, ParsesSimpleGetRequest) {
  const std::string_view input = "GET /v2/ HTTP/1.1\r\nHost: registry.local\r\nAccept: */*\r\n\r\n";
  const RequestOutcome o = parse(input);
  ASSERT_EQ(o.kind, Kind::Complete);
  EXPECT_EQ(o.consumed, input.size());
  EXPECT_EQ(o.method, "GET");
  EXPECT_EQ(o.target, "/v2/");
  EXPECT_EQ(o.path, "/v2/");
  EXPECT_EQ(o.query, "");
  EXPECT_EQ(o.version_minor, 1);
  EXPECT_EQ(o.host, "registry.local");
  EXPECT_EQ(o.framing, BodyFraming::None);
  EXPECT_TRUE(o.keep_alive);
  const std::vector<std::pair<std::string, std::string>> expected = {{"Host", "registry.local"},
                                                                     {"Accept", "*/*"}};
  EXPECT_EQ(o.headers, expected);
}

TEST(RequestParser, SplitsTargetIntoPathAndQuery) {
  const RequestOutcome o = parse("GET /v2/lib/tags/list?n=10&last=a HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(o.path, "/v2/lib/tags/list");
  EXPECT_EQ(o.query, "n=10&last=a");
}

TEST(RequestParser, SplitsTargetAtTheFirstQuestionMark) {
  const RequestOutcome o = parse("GET /a?b?c HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(o.path, "/a");
  EXPECT_EQ(o.query, "b?c");
}

TEST(RequestParser, TrimsOptionalWhitespaceAroundFieldValues) {
  const RequestOutcome o = parse("GET / HTTP/1.1\r\nHost: a\r\nX-A: \t v  a \t \r\n\r\n");
  ASSERT_EQ(o.headers.size(), 2u);
  EXPECT_EQ(o.headers[1].second, "v  a");
}

TEST(RequestParser, AcceptsEmptyFieldValue) {
  const RequestOutcome o = parse("GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Blank:   \r\n\r\n");
  ASSERT_EQ(o.headers.size(), 3u);
  EXPECT_EQ(o.headers[1].second, "");
  EXPECT_EQ(o.headers[2].second, "");
}

TEST(RequestParser, AcceptsHtabAndObsTextInFieldValues) {
  const RequestOutcome o = parse("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\tb\xc3\xa9\r\n\r\n");
  ASSERT_EQ(o.kind, Kind::Complete);
  EXPECT_EQ(o.headers[1].second, "a\tb\xc3\xa9");
}

TEST(RequestParser, ReturnsIncompleteUntilTheHeadEnds) {
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\n").kind, Kind::Incomplete);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\n\r").kind, Kind::Incomplete);
  EXPECT_EQ(parse("").kind, Kind::Incomplete);
}

TEST(RequestParser, ConsumedPointsAtTheSecondPipelinedRequest) {
  const std::string first = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n";
  const std::string second = "HEAD /b HTTP/1.1\r\nHost: a\r\n\r\n";
  const std::string both = first + second;
  const RequestOutcome o1 = parse(both);
  ASSERT_EQ(o1.kind, Kind::Complete);
  EXPECT_EQ(o1.consumed, first.size());
  EXPECT_EQ(o1.path, "/a");
  const RequestOutcome o2 = parse(std::string_view(both).substr(o1.consumed));
  ASSERT_EQ(o2.kind, Kind::Complete);
  EXPECT_EQ(o2.method, "HEAD");
  EXPECT_EQ(o2.path, "/b");
  EXPECT_EQ(o2.consumed, second.size());
}

TEST(RequestParser, ConsumedStopsBeforeTheBody) {
  const std::string_view head = "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n";
  const RequestOutcome o = parse(std::string(head) + "hello");
  ASSERT_EQ(o.kind, Kind::Complete);
  EXPECT_EQ(o.consumed, head.size());
  EXPECT_EQ(o.framing, BodyFraming::ContentLength);
  EXPECT_EQ(o.content_length, 5u);
}

TEST(RequestParser, FindLooksUpFieldsCaseInsensitively) {
  const std::string input = "GET / HTTP/1.1\r\nHost: a\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\n";
  std::vector<Header> storage(8);
  RequestHead head;
  ASSERT_TRUE(parse_request(input, storage, ParseLimits{}, head).complete());
  ASSERT_NE(head.find("X-DUP"), nullptr);
  EXPECT_EQ(head.find("X-DUP")->value, "1");
  EXPECT_EQ(head.find("host")->value, "a");
  EXPECT_EQ(head.find("Missing"), nullptr);
}

TEST(RequestParser, LeavesOutputUntouchedOnError) {
  const std::string input = "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";
  std::vector<Header> storage(8);
  RequestHead head;
  head.method = "SENTINEL";
  EXPECT_TRUE(parse_request(input, storage, ParseLimits{}, head).error());
  EXPECT_EQ(head.method, "SENTINEL");
}

TEST(RequestParser, ParsesHttp10Request) {
  const RequestOutcome o = parse("GET / HTTP/1.0\r\n\r\n");
  ASSERT_EQ(o.kind, Kind::Complete);
  EXPECT_EQ(o.version_minor, 0);
  EXPECT_EQ(o.host, "");
}

// ---- Versions (505 for other versions, 400 for malformed ones) ----

TEST(RequestParser, RejectsHttp2VersionWith505) {
  expect_error(parse("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505, "unsupported HTTP version");
}

TEST(RequestParser, RejectsHttp12VersionWith505) {
  expect_error(parse("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), 505, "unsupported HTTP version");
}

TEST(RequestParser, RejectsLowercaseHttpName) {
  expect_error(parse("GET / http/1.1\r\nHost: a\r\n\r\n"), 400, "malformed HTTP version");
}

TEST(RequestParser, RejectsTrailingSpaceAfterVersion) {
  expect_error(parse("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), 400, "malformed HTTP version");
}

TEST(RequestParser, RejectsRequestLineWithoutVersion) {
  expect_error(parse("GET /\r\n\r\n"), 400, "request line without HTTP version");
}

// ---- Request line syntax ----

TEST(RequestParser, RejectsInvalidTcharInMethod) {
  const RequestOutcome o = parse("GE(T / HTTP/1.1\r\nHost: a\r\n\r\n");
  expect_error(o, 400, "invalid character in method");
  EXPECT_EQ(o.error_offset, 2u);
}

TEST(RequestParser, RejectsEmptyMethod) {
  expect_error(parse(" / HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "empty method");
}

TEST(RequestParser, RejectsTwoSpacesBetweenMethodAndTarget) {
  expect_error(parse("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "empty request-target");
}

TEST(RequestParser, RejectsControlCharacterInTarget) {
  expect_error(parse("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n"), 400,
               "invalid character in request-target");
}

TEST(RequestParser, RejectsNonAsciiByteInTarget) {
  expect_error(parse("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"), 400,
               "invalid character in request-target");
}

TEST(RequestParser, RejectsTabInRequestLine) {
  expect_error(parse("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "invalid character in method");
}

// ---- Empty lines before the request line (RFC 9112 section 2.2) ----

TEST(RequestParser, IgnoresOneEmptyLineBeforeTheRequestLine) {
  const std::string_view input = "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
  const RequestOutcome o = parse(input);
  ASSERT_EQ(o.kind, Kind::Complete);
  EXPECT_EQ(o.consumed, input.size());
  EXPECT_EQ(o.method, "GET");
}

TEST(RequestParser, RejectsTwoEmptyLinesBeforeTheRequestLine) {
  expect_error(parse("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400,
               "more than one empty line before the request line");
}

// ---- Request-target forms (RFC 9112 section 3.2) ----

TEST(RequestParser, AcceptsAsteriskFormForOptions) {
  const RequestOutcome o = parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_EQ(o.kind, Kind::Complete);
  EXPECT_EQ(o.target, "*");
  EXPECT_EQ(o.path, "*");
}

TEST(RequestParser, RejectsAsteriskFormForGet) {
  expect_error(parse("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), 400,
               "asterisk-form target outside OPTIONS");
}

TEST(RequestParser, ParsesAbsoluteFormIntoPathQueryAndHost) {
  const RequestOutcome o = parse("GET http://mirror.local:5000/v2/x/manifests/1?q=1 HTTP/1.1\r\n"
                                 "Host: Mirror.local:5000\r\n\r\n");
  ASSERT_EQ(o.kind, Kind::Complete);
  EXPECT_EQ(o.target, "http://mirror.local:5000/v2/x/manifests/1?q=1");
  EXPECT_EQ(o.path, "/v2/x/manifests/1");
  EXPECT_EQ(o.query, "q=1");
  EXPECT_EQ(o.host, "mirror.local:5000"); // RFC 9112 section 3.2.2: the target's authority
}

TEST(RequestParser, TakesTheAbsoluteFormAuthorityWithoutAHostField) {
  const RequestOutcome o = parse("GET http://mirror.local/v2/ HTTP/1.0\r\n\r\n");
  ASSERT_EQ(o.kind, Kind::Complete);
  EXPECT_EQ(o.host, "mirror.local");
}

TEST(RequestParser, RejectsAbsoluteFormWhoseAuthorityDiffersFromHost) {
  expect_error(parse("GET http://mirror.local:5000/v2/ HTTP/1.1\r\nHost: other\r\n\r\n"), 400,
               "absolute-form authority differs from Host");
  expect_error(parse("GET http://a/v2/ HTTP/1.1\r\nHost: a:80\r\n\r\n"), 400,
               "absolute-form authority differs from Host");
}

TEST(RequestParser, GivesAbsoluteFormWithoutPathTheRootPath) {
  const RequestOutcome o =
      parse("GET https://mirror.local?x HTTP/1.1\r\nHost: mirror.local\r\n\r\n");
  ASSERT_EQ(o.kind, Kind::Complete);
  EXPECT_EQ(o.path, "/");
  EXPECT_EQ(o.query, "x");
}

TEST(RequestParser, MatchesAbsoluteFormSchemeCaseInsensitively) {
  EXPECT_EQ(parse("GET HTTP://a/x HTTP/1.1\r\nHost: a\r\n\r\n").path, "/x");
}

TEST(RequestParser, RejectsAbsoluteFormWithUserinfo) {
  expect_error(parse("GET http://user@a/x HTTP/1.1\r\nHost: a\r\n\r\n"), 400,
               "invalid authority in request-target");
}

TEST(RequestParser, RejectsAbsoluteFormWithEmptyHost) {
  expect_error(parse("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n"), 400,
               "invalid authority in request-target");
}

TEST(RequestParser, RejectsAbsoluteFormWithOtherScheme) {
  expect_error(parse("GET ftp://a/x HTTP/1.1\r\nHost: a\r\n\r\n"), 400,
               "unsupported URI scheme in request-target");
}

TEST(RequestParser, RejectsTargetWithoutLeadingSlash) {
  expect_error(parse("GET v2/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "invalid request-target");
}

TEST(RequestParser, AcceptsAuthorityFormForConnect) {
  const RequestOutcome o = parse("CONNECT registry.local:443 HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_EQ(o.kind, Kind::Complete);
  EXPECT_EQ(o.target, "registry.local:443");
  EXPECT_EQ(o.path, "");
  EXPECT_EQ(o.query, "");
}

TEST(RequestParser, RejectsAuthorityFormOutsideConnect) {
  expect_error(parse("GET registry.local:443 HTTP/1.1\r\nHost: a\r\n\r\n"), 400,
               "invalid request-target");
}

TEST(RequestParser, RejectsConnectWithOriginForm) {
  expect_error(parse("CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n"), 400,
               "CONNECT target is not authority-form");
}

TEST(RequestParser, RejectsConnectWithoutPort) {
  expect_error(parse("CONNECT registry.local HTTP/1.1\r\nHost: a\r\n\r\n"), 400,
               "CONNECT target is not authority-form");
}

// ---- Host (RFC 9112 section 3.2) ----

TEST(RequestParser, RejectsHttp11RequestWithoutHost) {
  expect_error(parse("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"), 400, "missing Host");
}

TEST(RequestParser, AcceptsHttp10RequestWithoutHost) {
  EXPECT_EQ(parse("GET / HTTP/1.0\r\nAccept: */*\r\n\r\n").kind, Kind::Complete);
}

TEST(RequestParser, RejectsSeveralHostFields) {
  expect_error(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400, "several Host fields");
}

TEST(RequestParser, RejectsHostWithUserinfo) {
  expect_error(parse("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n"), 400, "invalid Host");
}

TEST(RequestParser, RejectsHostWithSpace) {
  expect_error(parse("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400, "invalid Host");
}

TEST(RequestParser, AcceptsHostWithIpv6LiteralAndPort) {
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: [::1]:5000\r\n\r\n").host, "[::1]:5000");
}

TEST(RequestParser, AcceptsEmptyHost) {
  const RequestOutcome o = parse("GET / HTTP/1.1\r\nHost:\r\n\r\n");
  EXPECT_EQ(o.kind, Kind::Complete);
  EXPECT_EQ(o.host, "");
}

// ---- Persistence (RFC 9112 section 9.3) ----

TEST(RequestParser, KeepsHttp11ConnectionAliveByDefault) {
  EXPECT_TRUE(parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n").keep_alive);
}

TEST(RequestParser, ClosesHttp11ConnectionOnConnectionClose) {
  EXPECT_FALSE(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").keep_alive);
}

TEST(RequestParser, FindsCloseInConnectionTokenListCaseInsensitively) {
  EXPECT_FALSE(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade ,CLOSE\r\n\r\n").keep_alive);
}

TEST(RequestParser, ClosesHttp10ConnectionByDefault) {
  EXPECT_FALSE(parse("GET / HTTP/1.0\r\n\r\n").keep_alive);
}

TEST(RequestParser, KeepsHttp10ConnectionAliveWithKeepAlive) {
  EXPECT_TRUE(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
}

TEST(RequestParser, LetsCloseWinOverKeepAlive) {
  EXPECT_FALSE(
      parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n").keep_alive);
}

// ---- Content-Length (RFC 9110 section 8.6, RFC 9112 section 6.3) ----

TEST(RequestParser, AcceptsLargestContentLength) {
  const RequestOutcome o =
      parse("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n");
  ASSERT_EQ(o.kind, Kind::Complete);
  EXPECT_EQ(o.content_length, UINT64_MAX);
}

TEST(RequestParser, RejectsOverflowingContentLength) {
  expect_error(parse("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n"),
               400, "invalid Content-Length");
}

TEST(RequestParser, RejectsNonDigitContentLength) {
  for (const std::string_view value : {"12a", "-1", "+5", "0x10", "1 2", "1.0"}) {
    SCOPED_TRACE(value);
    expect_error(
        parse("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::string(value) + "\r\n\r\n"),
        400, "invalid Content-Length");
  }
}

TEST(RequestParser, RejectsEmptyContentLength) {
  expect_error(parse("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n"), 400,
               "invalid Content-Length");
}

TEST(RequestParser, AcceptsIdenticalDuplicateContentLengths) {
  const RequestOutcome o =
      parse("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n");
  ASSERT_EQ(o.kind, Kind::Complete);
  EXPECT_EQ(o.content_length, 7u);
}

TEST(RequestParser, AcceptsCommaListOfIdenticalContentLengths) {
  const RequestOutcome o = parse("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 7 ,7, 7\r\n\r\n");
  ASSERT_EQ(o.kind, Kind::Complete);
  EXPECT_EQ(o.framing, BodyFraming::ContentLength);
  EXPECT_EQ(o.content_length, 7u);
}

TEST(RequestParser, RejectsDifferingContentLengths) {
  expect_error(parse("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\nContent-Length: 8\r\n\r\n"),
               400, "differing Content-Length values");
}

TEST(RequestParser, RejectsCommaListOfDifferingContentLengths) {
  expect_error(parse("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 7, 8\r\n\r\n"), 400,
               "differing Content-Length values");
}

TEST(RequestParser, RejectsContentLengthListWithEmptyElement) {
  expect_error(parse("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 7,\r\n\r\n"), 400,
               "invalid Content-Length");
}

// ---- Transfer-Encoding (RFC 9112 sections 6.1 and 6.3) ----

TEST(RequestParser, ParsesChunkedTransferEncoding) {
  const RequestOutcome o =
      parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n");
  ASSERT_EQ(o.kind, Kind::Complete);
  EXPECT_EQ(o.framing, BodyFraming::Chunked);
}

TEST(RequestParser, RejectsContentLengthWithTransferEncoding) {
  expect_error(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n"),
               400, "Content-Length with Transfer-Encoding");
}

TEST(RequestParser, RejectsTransferEncodingBeforeContentLength) {
  expect_error(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                     "Content-Length: 5\r\n\r\n"),
               400, "Content-Length with Transfer-Encoding");
}

TEST(RequestParser, RejectsFinalCodingOtherThanChunked) {
  expect_error(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), 400,
               "final transfer coding is not chunked");
}

TEST(RequestParser, RejectsTransferEncodingWithoutChunked) {
  expect_error(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"), 400,
               "final transfer coding is not chunked");
}

TEST(RequestParser, RejectsUnknownCodingBeforeChunkedWith501) {
  expect_error(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501,
               "unknown transfer coding");
}

TEST(RequestParser, RejectsChunkedAppliedTwice) {
  expect_error(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"),
               400, "chunked applied more than once");
}

TEST(RequestParser, RejectsChunkedAppliedTwiceAcrossFields) {
  expect_error(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n"),
               400, "chunked applied more than once");
}

TEST(RequestParser, RejectsTransferEncodingWithoutCoding) {
  expect_error(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\n\r\n"), 400,
               "Transfer-Encoding without a coding");
}

TEST(RequestParser, RejectsInvalidTransferCoding) {
  expect_error(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n"), 400,
               "invalid transfer coding");
}

TEST(RequestParser, RejectsTransferEncodingInHttp10) {
  expect_error(parse("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400,
               "Transfer-Encoding in HTTP/1.0");
}

// ---- Field line syntax (RFC 9112 section 5, RFC 9110 section 5.5) ----

TEST(RequestParser, RejectsSpaceBetweenFieldNameAndColon) {
  const RequestOutcome o = parse("GET / HTTP/1.1\r\nHost : a\r\n\r\n");
  expect_error(o, 400, "whitespace between field name and colon");
  EXPECT_EQ(o.error_offset, 20u);
}

TEST(RequestParser, RejectsTabBetweenFieldNameAndColon) {
  expect_error(parse("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\t: chunked\r\n\r\n"), 400,
               "whitespace between field name and colon");
}

TEST(RequestParser, RejectsObsoleteLineFolding) {
  expect_error(parse("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n"), 400,
               "obsolete line folding");
}

TEST(RequestParser, RejectsObsoleteLineFoldingWithTab) {
  expect_error(parse("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n"), 400,
               "obsolete line folding");
}

TEST(RequestParser, RejectsInvalidTcharInFieldName) {
  expect_error(parse("GET / HTTP/1.1\r\nHost: a\r\nX@A: b\r\n\r\n"), 400,
               "invalid character in field name");
}

TEST(RequestParser, RejectsFieldLineWithoutColon) {
  expect_error(parse("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n"), 400,
               "field line without colon");
}

TEST(RequestParser, RejectsEmptyFieldName) {
  expect_error(parse("GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n"), 400, "empty field name");
}

TEST(RequestParser, RejectsNulInFieldValue) {
  expect_error(parse(std::string("GET / HTTP/1.1\r\nHost: a\r\nX-A: b") + '\0' + "c\r\n\r\n"), 400,
               "control character in field value");
}

TEST(RequestParser, RejectsControlCharactersInFieldValue) {
  for (const char c : {'\x01', '\x1f', '\x7f', '\x0b'}) {
    SCOPED_TRACE(int(c));
    expect_error(parse(std::string("GET / HTTP/1.1\r\nHost: a\r\nX-A: b") + c + "c\r\n\r\n"), 400,
                 "control character in field value");
  }
}

// ---- Line endings (RFC 9112 section 2.2) ----

TEST(RequestParser, RejectsBareCrInFieldValue) {
  const RequestOutcome o = parse("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n");
  expect_error(o, 400, "bare CR in head");
  EXPECT_EQ(o.error_offset, 23u);
}

TEST(RequestParser, RejectsBareCrInRequestLine) {
  expect_error(parse("GET /\r HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "bare CR in head");
}

TEST(RequestParser, RejectsBareLfEndingTheRequestLine) {
  expect_error(parse("GET / HTTP/1.1\nHost: a\r\n\r\n"), 400, "bare LF line ending");
}

TEST(RequestParser, RejectsBareLfEndingAFieldLine) {
  expect_error(parse("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n"), 400, "bare LF line ending");
}

TEST(RequestParser, RejectsBareLfHeadEndWithoutWaitingForMore) {
  // Only LF line endings: no CRLFCRLF will ever come, so fail now rather than at the size cap.
  expect_error(parse("GET / HTTP/1.1\nHost: a\n\n"), 400, "bare LF line ending");
}

TEST(RequestParser, RejectsLfCrLfAtHeadEnd) {
  expect_error(parse("GET / HTTP/1.1\r\nHost: a\r\n\n\r\n"), 400, "bare LF line ending");
}

// ---- Limits (431) ----

TEST(RequestParser, RejectsOversizedHeadBeforeItEnds) {
  // The slowloris defence: no CRLFCRLF yet, but more than header_bytes_max bytes already.
  const ParseLimits limits{.header_bytes_max = 64, .header_count_max = 64};
  const std::string input = "GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + std::string(60, 'x');
  const RequestOutcome o = parse(input, limits);
  expect_error(o, 431, "header block too large");
  EXPECT_EQ(o.error_offset, 64u);
}

TEST(RequestParser, RejectsOversizedCompleteHead) {
  const ParseLimits limits{.header_bytes_max = 64, .header_count_max = 64};
  expect_error(
      parse("GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + std::string(60, 'x') + "\r\n\r\n", limits),
      431, "header block too large");
}

TEST(RequestParser, AcceptsHeadOfExactlyHeaderBytesMax) {
  const std::string input = "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(10, 'x') + "\r\n\r\n";
  const ParseLimits limits{.header_bytes_max = input.size(), .header_count_max = 64};
  EXPECT_EQ(parse(input, limits).kind, Kind::Complete);
}

TEST(RequestParser, AcceptsBytesBeyondHeaderBytesMaxAfterASmallHead) {
  const std::string head = "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n";
  const ParseLimits limits{.header_bytes_max = head.size(), .header_count_max = 64};
  const RequestOutcome o = parse(head + std::string(100, 'b'), limits);
  EXPECT_EQ(o.kind, Kind::Complete);
  EXPECT_EQ(o.consumed, head.size());
}

TEST(RequestParser, AppliesDefaultHeaderBytesMaxOf16KiB) {
  const std::string input =
      "GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + std::string(16 * 1024, 'x') + "\r\n\r\n";
  std::vector<Header> storage(8);
  RequestHead head;
  const ParseResult result = parse_request(input, storage, ParseLimits{}, head);
  EXPECT_TRUE(result.error());
  EXPECT_EQ(result.error_status, 431);
}

TEST(RequestParser, RejectsMoreFieldsThanStorage) {
  expect_error(parse("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", ParseLimits{}, 2), 431,
               "too many header fields");
}

TEST(RequestParser, RejectsMoreFieldsThanHeaderCountMax) {
  const ParseLimits limits{.header_bytes_max = 1024, .header_count_max = 2};
  expect_error(parse("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", limits), 431,
               "too many header fields");
}

TEST(RequestParser, AcceptsFieldsFillingStorageExactly) {
  const RequestOutcome o = parse("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", {}, 3);
  EXPECT_EQ(o.kind, Kind::Complete);
  EXPECT_EQ(o.headers.size(), 3u);
}

} // namespace
} // namespace regcache::http

namespace regcache::http {
namespace {

TEST(RequestPrefixTest, AcceptsTheStartOfARealRequest) {
  for (std::string_view prefix : {"G", "GET", "GET ", "GET /v2/ HTT", "\r\nGET", "M-SEARCH *"}) {
    EXPECT_TRUE(request_prefix_is_plausible(prefix)) << prefix;
  }
}

TEST(RequestPrefixTest, RefusesATlsClientHelloAtOnce) {
  const char client_hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
  EXPECT_FALSE(
      request_prefix_is_plausible(std::span<const char>(client_hello, sizeof(client_hello))));
}

TEST(RequestPrefixTest, RefusesNulAndEmptyMethodsAndOverlongMethods) {
  EXPECT_FALSE(request_prefix_is_plausible(std::string_view("\0", 1)));
  EXPECT_FALSE(request_prefix_is_plausible(" /"));
  EXPECT_FALSE(request_prefix_is_plausible(std::string(40, 'G')));
}

// ---- Resumed parsing (review section 4.3) ----

// A request head of about `bytes` bytes with many short field lines.
std::string long_request_head(size_t bytes) {
  std::string head =
      "GET /v2/library/busybox/manifests/latest HTTP/1.1\r\nHost: registry.local\r\n";
  for (int field = 0; head.size() + 32 < bytes; ++field)
    head += "X-Field-" + std::to_string(field) + ": some value\r\n";
  return head + "\r\n";
}

TEST(RequestParser, AHeadFedByteByByteIsScannedInLinearTime) {
  const std::string input = long_request_head(12 * 1024);
  ParseLimits limits;
  limits.header_count_max = 1024;
  uint64_t scanned_bytes = 0;
  const RequestOutcome o = parse(input, limits, 1024, &scanned_bytes);
  ASSERT_EQ(o.kind, Kind::Complete);
  EXPECT_EQ(o.consumed, input.size());
  // Each one-byte call looks at the new byte, the 3 before it (a CRLFCRLF split across calls)
  // and a CR left undecided at the end: a few bytes per byte. Rescanning from the start on
  // every call would look at about size^2 / 2 bytes, some 75 million here.
  EXPECT_GT(scanned_bytes, input.size());
  EXPECT_LE(scanned_bytes, 8 * input.size());
}

TEST(RequestParser, AResumedParseRejectsABareCrSplitFromItsNextByte) {
  // The CR ends one piece and the byte after it starts the next: undecided, then rejected.
  const std::string input = "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n";
  HeadScan scan;
  std::vector<Header> storage(8);
  RequestHead head;
  const size_t cr = input.find("\rb");
  EXPECT_TRUE(parse_request(std::span<const char>(input.data(), cr + 1), storage, {}, head, scan)
                  .incomplete());
  const ParseResult result = parse_request(input, storage, {}, head, scan);
  ASSERT_TRUE(result.error());
  EXPECT_EQ(result.error_offset, cr);
  EXPECT_EQ(result.error_reason, "bare CR in head");
}

} // namespace
} // namespace regcache::http

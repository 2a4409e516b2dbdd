#include "http/head_writer.h"

#include <array>
#include <string>

#include <gtest/gtest.h>

#include "http/request_parser.h"
#include "http/response_parser.h"

namespace regcache::http {
namespace {

TEST(HeadWriter, WritesStatusLineWithReasonPhrase) {
  std::array<char, 64> buffer{};
  HeadWriter writer(buffer);
  writer.status_line(404);
  EXPECT_EQ(writer.view(), "HTTP/1.1 404 Not Found\r\n");
}

TEST(HeadWriter, WritesUnknownStatusWithEmptyReasonPhrase) {
  std::array<char, 64> buffer{};
  HeadWriter writer(buffer);
  writer.status_line(299);
  EXPECT_EQ(writer.view(), "HTTP/1.1 299 \r\n");
}

TEST(HeadWriter, WritesRequestLine) {
  std::array<char, 64> buffer{};
  HeadWriter writer(buffer);
  writer.request_line("GET", "/v2/library/alpine/manifests/3.19");
  EXPECT_EQ(writer.view(), "GET /v2/library/alpine/manifests/3.19 HTTP/1.1\r\n");
}

TEST(HeadWriter, WritesHeadersAndTheFinalCrlf) {
  std::array<char, 128> buffer{};
  HeadWriter writer(buffer);
  writer.status_line(200);
  writer.header("Content-Type", "application/json");
  writer.header_uint("Content-Length", 0);
  writer.end();
  EXPECT_EQ(writer.view(),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(writer.size(), writer.view().size());
  EXPECT_FALSE(writer.overflowed());
}

TEST(HeadWriter, WritesLargestUnsignedValue) {
  std::array<char, 64> buffer{};
  HeadWriter writer(buffer);
  writer.header_uint("Content-Length", UINT64_MAX);
  EXPECT_EQ(writer.view(), "Content-Length: 18446744073709551615\r\n");
}

TEST(HeadWriter, WritesAResponseHeadTheParserAccepts) {
  std::array<char, 256> buffer{};
  HeadWriter writer(buffer);
  writer.status_line(206);
  writer.header("Content-Range", "bytes 0-9/100");
  writer.header_uint("Content-Length", 10);
  writer.end();
  std::array<Header, 8> storage;
  ResponseHead head;
  const ParseResult result = parse_response(writer.view(), storage, {}, false, head);
  ASSERT_TRUE(result.complete());
  EXPECT_EQ(result.consumed, writer.size());
  EXPECT_EQ(head.status, 206);
  EXPECT_EQ(head.reason, "Partial Content");
  EXPECT_EQ(head.framing, BodyFraming::ContentLength);
  EXPECT_EQ(head.content_length, 10u);
}

TEST(HeadWriter, WritesARequestHeadTheParserAccepts) {
  std::array<char, 256> buffer{};
  HeadWriter writer(buffer);
  writer.request_line("HEAD", "/v2/x/blobs/sha256:ab?ns=docker.io");
  writer.header("Host", "registry-1.docker.io");
  writer.end();
  std::array<Header, 8> storage;
  RequestHead head;
  ASSERT_TRUE(parse_request(writer.view(), storage, {}, head).complete());
  EXPECT_EQ(head.method, "HEAD");
  EXPECT_EQ(head.path, "/v2/x/blobs/sha256:ab");
  EXPECT_EQ(head.query, "ns=docker.io");
  EXPECT_EQ(head.host, "registry-1.docker.io");
}

TEST(HeadWriter, FillsTheBufferExactlyWithoutOverflow) {
  const std::string_view line = "HTTP/1.1 200 OK\r\n";
  std::array<char, 17> buffer{};
  static_assert(sizeof(buffer) == 17);
  HeadWriter writer(buffer);
  writer.status_line(200);
  EXPECT_FALSE(writer.overflowed());
  EXPECT_EQ(writer.view(), line);
}

TEST(HeadWriter, ReportsOverflowAndShowsNothing) {
  std::array<char, 24> buffer{};
  HeadWriter writer(buffer);
  writer.status_line(200);
  writer.header("Content-Type", "application/json");
  writer.end();
  EXPECT_TRUE(writer.overflowed());
  EXPECT_EQ(writer.view(), "");
  EXPECT_EQ(writer.size(), 0u);
}

TEST(HeadWriter, RefusesFieldValueWithCrlf) {
  std::array<char, 128> buffer{};
  HeadWriter writer(buffer);
  writer.status_line(302);
  writer.header("Location", "/x\r\nSet-Cookie: a=b");
  writer.end();
  EXPECT_TRUE(writer.field_rejected());
  EXPECT_FALSE(writer.overflowed());
  EXPECT_EQ(writer.view(), "");
}

TEST(HeadWriter, RefusesFieldNameThatIsNotAToken) {
  std::array<char, 128> buffer{};
  HeadWriter writer(buffer);
  writer.header("Bad Name", "x");
  EXPECT_TRUE(writer.field_rejected());
}

TEST(HeadWriter, RefusesRequestTargetWithSpace) {
  std::array<char, 128> buffer{};
  HeadWriter writer(buffer);
  writer.request_line("GET", "/a b");
  EXPECT_TRUE(writer.field_rejected());
}

TEST(HeadWriter, KnowsReasonPhrasesOfStatusesWeSend) {
  EXPECT_EQ(reason_phrase(200), "OK");
  EXPECT_EQ(reason_phrase(401), "Unauthorized");
  EXPECT_EQ(reason_phrase(416), "Range Not Satisfiable");
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(502), "Bad Gateway");
  EXPECT_EQ(reason_phrase(505), "HTTP Version Not Supported");
  EXPECT_EQ(reason_phrase(799), "");
}

} // namespace
} // namespace regcache::http

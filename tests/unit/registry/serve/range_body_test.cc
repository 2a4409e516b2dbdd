#include "registry/serve/range_body.h"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "registry/serve/stored_file.h"

namespace regcache::registry {
namespace {

const std::string kHex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const Digest kDigest = *parse_sha256_digest("sha256:" + kHex);
const std::string kBoundary = "blob-" + kHex;

std::string head_fields(const RangeBody &body) {
  std::array<char, 1024> buffer;
  http::HeadWriter head(buffer);
  head.status_line(206);
  body.add_headers(head);
  head.end();
  EXPECT_FALSE(head.overflowed());
  EXPECT_FALSE(head.field_rejected());
  return std::string(head.view());
}

// The whole multipart body as RangeBody frames it, with each part's bytes taken from `blob`.
std::string assemble(const RangeBody &body, const std::string &blob) {
  std::string out;
  std::array<char, RangeBody::kPartHeadBytesMax> part;
  for (size_t index = 0; index < body.ranges().size(); ++index) {
    out += body.part_head(index, part);
    const ByteRange &range = body.ranges()[index];
    out += blob.substr(range.first, range.bytes());
  }
  std::array<char, RangeBody::kClosingBytesMax> closing;
  out += body.closing(closing);
  return out;
}

TEST(RangeBodyTest, OneRangeIsASinglePartWithContentRange) {
  const ByteRanges ranges = parse_byte_ranges("bytes=100-199", 1000);
  const RangeBody body(ranges, kDigest, 1000);
  EXPECT_FALSE(body.multipart());
  EXPECT_EQ(body.body_bytes(), 100u);
  EXPECT_EQ(head_fields(body), "HTTP/1.1 206 Partial Content\r\n"
                               "Content-Type: application/octet-stream\r\n"
                               "Content-Range: bytes 100-199/1000\r\n\r\n");
}

TEST(RangeBodyTest, SeveralRangesAreMultipartByterangesWithTheDigestBoundary) {
  const ByteRanges ranges = parse_byte_ranges("bytes=0-9,20-29", 100);
  const RangeBody body(ranges, kDigest, 100);
  EXPECT_TRUE(body.multipart());
  EXPECT_EQ(head_fields(body), "HTTP/1.1 206 Partial Content\r\n"
                               "Content-Type: multipart/byteranges; boundary=" +
                                   kBoundary + "\r\n\r\n");
}

TEST(RangeBodyTest, MultipartBodyIsFramedAsRfc9110Section14_6Shows) {
  std::string blob(100, '\0');
  for (size_t i = 0; i < blob.size(); ++i)
    blob[i] = static_cast<char>('A' + i % 26);
  const ByteRanges ranges = parse_byte_ranges("bytes=0-2,-3", 100);
  const RangeBody body(ranges, kDigest, 100);
  const std::string expected = "--" + kBoundary +
                               "\r\nContent-Type: application/octet-stream\r\n"
                               "Content-Range: bytes 0-2/100\r\n\r\nABC\r\n--" +
                               kBoundary +
                               "\r\nContent-Type: application/octet-stream\r\n"
                               "Content-Range: bytes 97-99/100\r\n\r\nTUV\r\n--" +
                               kBoundary + "--\r\n";
  EXPECT_EQ(assemble(body, blob), expected);
}

TEST(RangeBodyTest, BodyBytesIsTheExactLengthOfTheMultipartBody) {
  const uint64_t size = 123456789012;
  std::string value = "bytes=";
  for (size_t i = 0; i < kByteRangesMax; ++i)
    value += (i == 0 ? "" : ",") + std::to_string(i * 1000000007) + "-" +
             std::to_string(i * 1000000007 + i);
  const ByteRanges ranges = parse_byte_ranges(value, size);
  ASSERT_EQ(ranges.count, kByteRangesMax);
  const RangeBody body(ranges, kDigest, size);
  uint64_t framing = 0;
  std::array<char, RangeBody::kPartHeadBytesMax> part;
  for (size_t index = 0; index < ranges.count; ++index)
    framing += body.part_head(index, part).size();
  std::array<char, RangeBody::kClosingBytesMax> closing;
  framing += body.closing(closing).size();
  EXPECT_EQ(body.body_bytes(), framing + ranges.total_bytes());
}

TEST(RangeBodyTest, PartHeadsOfTheLargestNumbersFit) {
  const uint64_t size = UINT64_MAX;
  const ByteRanges ranges =
      parse_byte_ranges("bytes=18446744073709551000-18446744073709551001,-1", size);
  ASSERT_EQ(ranges.count, 2u);
  const RangeBody body(ranges, kDigest, size);
  std::array<char, RangeBody::kPartHeadBytesMax> part;
  EXPECT_NE(body.part_head(1, part).find("bytes 18446744073709551614-18446744073709551614/"
                                         "18446744073709551615\r\n\r\n"),
            std::string_view::npos);
}

struct Request {
  std::vector<http::Header> headers;
  http::RequestHead head;
  Request(std::string_view method, std::vector<http::Header> fields) : headers(std::move(fields)) {
    head.method = method;
    head.headers = headers;
  }
};

const std::string kEtag = "\"sha256:" + kHex + "\"";

TEST(RequestedRangesTest, AGetWithRangeAsksForIt) {
  Request request("GET", {{"Host", "x"}, {"range", "bytes=0-1"}});
  EXPECT_EQ(requested_ranges(request.head, kEtag), "bytes=0-1");
}

TEST(RequestedRangesTest, NoRangeAsksForNothing) {
  Request request("GET", {{"Host", "x"}});
  EXPECT_EQ(requested_ranges(request.head, kEtag), "");
}

TEST(RequestedRangesTest, AHeadIgnoresRange) {
  Request request("HEAD", {{"Range", "bytes=0-1"}});
  EXPECT_EQ(requested_ranges(request.head, kEtag), "");
}

TEST(RequestedRangesTest, TwoRangeFieldsAreIgnored) {
  Request request("GET", {{"Range", "bytes=0-1"}, {"Range", "bytes=0-1"}});
  EXPECT_EQ(requested_ranges(request.head, kEtag), "");
}

TEST(RequestedRangesTest, AMatchingIfRangePermitsTheRange) {
  Request request("GET", {{"If-Range", kEtag}, {"Range", "bytes=0-1"}});
  EXPECT_EQ(requested_ranges(request.head, kEtag), "bytes=0-1");
}

TEST(RequestedRangesTest, AMismatchingIfRangeAsksForTheWholeBlob) {
  Request other("GET", {{"Range", "bytes=0-1"}, {"If-Range", "\"sha256:" + kHex + "0\""}});
  EXPECT_EQ(requested_ranges(other.head, kEtag), "");
  Request date("GET", {{"Range", "bytes=0-1"}, {"If-Range", "Sun, 06 Nov 1994 08:49:37 GMT"}});
  EXPECT_EQ(requested_ranges(date.head, kEtag), "");
  Request weak("GET", {{"Range", "bytes=0-1"}, {"If-Range", "W/" + kEtag}});
  EXPECT_EQ(requested_ranges(weak.head, kEtag), "");
}

TEST(RequestedRangesTest, TwoIfRangeFieldsAskForTheWholeBlob) {
  Request request("GET", {{"Range", "bytes=0-1"}, {"If-Range", kEtag}, {"If-Range", kEtag}});
  EXPECT_EQ(requested_ranges(request.head, kEtag), "");
}

TEST(BlobEtagTest, IsTheQuotedDigest) {
  std::array<char, kBlobEtagChars> etag;
  EXPECT_EQ(format_blob_etag(kDigest, etag), kEtag);
}

TEST(SendablePartEndTest, APartInsideTheReadableBytesIsSentWhole) {
  EXPECT_EQ(sendable_part_end(5000, false, 100, false), 100u);
  EXPECT_EQ(sendable_part_end(5000, true, 100, true), 100u);
}

TEST(SendablePartEndTest, APartIsSentAsFarAsTheFetchLetsReadersSee) {
  EXPECT_EQ(sendable_part_end(40, false, 100, false), 40u);
  EXPECT_EQ(sendable_part_end(40, false, 100, true), 40u);
  EXPECT_EQ(sendable_part_end(0, false, 100, true), 0u);
}

TEST(SendablePartEndTest, TheFinalByteOfTheResponseWaitsForVerification) {
  EXPECT_EQ(sendable_part_end(5000, false, 100, true), 99u);
  EXPECT_EQ(sendable_part_end(100, false, 100, true), 99u);
  EXPECT_EQ(sendable_part_end(1, false, 1, true), 0u);
  EXPECT_EQ(sendable_part_end(1, true, 1, true), 1u);
}

} // namespace
} // namespace regcache::registry

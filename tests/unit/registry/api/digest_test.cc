#include "registry/api/digest.h"

#include <gtest/gtest.h>

#include <string>
#include <unordered_set>

namespace regcache::registry {
namespace {

const std::string kAbcHex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const std::string kAbcDigest = "sha256:" + kAbcHex;

TEST(DigestTest, ParsesCanonicalSha256Digest) {
  const std::optional<Digest> digest = parse_sha256_digest(kAbcDigest);
  ASSERT_TRUE(digest.has_value());
  EXPECT_EQ(digest->bytes[0], 0xba);
  EXPECT_EQ(digest->bytes[1], 0x78);
  EXPECT_EQ(digest->bytes[31], 0xad);
}

TEST(DigestTest, RejectsEmptyText) {
  EXPECT_FALSE(parse_sha256_digest(""));
}

TEST(DigestTest, RejectsUppercaseHex) {
  std::string upper = kAbcDigest;
  upper[7] = 'B';
  EXPECT_FALSE(parse_sha256_digest(upper));
}

TEST(DigestTest, RejectsUppercaseAlgorithm) {
  EXPECT_FALSE(parse_sha256_digest("SHA256:" + kAbcHex));
}

TEST(DigestTest, RejectsHexWithoutAlgorithm) {
  EXPECT_FALSE(parse_sha256_digest(kAbcHex));
}

TEST(DigestTest, RejectsSixtyThreeHexDigits) {
  EXPECT_FALSE(parse_sha256_digest(kAbcDigest.substr(0, kAbcDigest.size() - 1)));
}

TEST(DigestTest, RejectsSixtyFiveHexDigits) {
  EXPECT_FALSE(parse_sha256_digest(kAbcDigest + "0"));
}

TEST(DigestTest, RejectsNonHexCharacter) {
  std::string bad = kAbcDigest;
  bad.back() = 'g';
  EXPECT_FALSE(parse_sha256_digest(bad));
}

TEST(DigestTest, RejectsOtherAlgorithmOfSameLength) {
  EXPECT_FALSE(parse_sha256_digest("sha512:" + kAbcHex));
}

TEST(DigestTest, RejectsTrailingWhitespace) {
  EXPECT_FALSE(parse_sha256_digest(kAbcDigest.substr(0, 70) + " "));
}

TEST(DigestTest, FormatWritesCanonicalText) {
  const Digest digest = *parse_sha256_digest(kAbcDigest);
  std::array<char, kDigestChars> out{};
  format_digest(digest, out);
  EXPECT_EQ(std::string_view(out.data(), out.size()), kAbcDigest);
}

TEST(DigestTest, FormatHexWritesOnlyTheHexDigits) {
  const Digest digest = *parse_sha256_digest(kAbcDigest);
  std::array<char, kSha256HexChars> out{};
  format_digest_hex(digest, out);
  EXPECT_EQ(std::string_view(out.data(), out.size()), kAbcHex);
}

TEST(DigestTest, ToStringRoundTripsThroughParse) {
  const Digest digest = *parse_sha256_digest(kAbcDigest);
  EXPECT_EQ(to_string(digest), kAbcDigest);
  EXPECT_EQ(parse_sha256_digest(to_string(digest)), digest);
}

TEST(DigestTest, EqualDigestsHaveEqualHashes) {
  const Digest first = *parse_sha256_digest(kAbcDigest);
  const Digest second = *parse_sha256_digest(kAbcDigest);
  EXPECT_EQ(first, second);
  EXPECT_EQ(DigestHash{}(first), DigestHash{}(second));
}

TEST(DigestTest, DigestsDifferingInLastByteAreUnequal) {
  Digest first = *parse_sha256_digest(kAbcDigest);
  Digest second = first;
  second.bytes[31] ^= 1;
  EXPECT_NE(first, second);
}

TEST(DigestTest, DigestWorksAsUnorderedSetKey) {
  std::unordered_set<Digest, DigestHash> set;
  set.insert(*parse_sha256_digest(kAbcDigest));
  EXPECT_TRUE(set.contains(*parse_sha256_digest(kAbcDigest)));
}

TEST(DigestTest, DecodeHexLowerRejectsUppercase) {
  std::array<uint8_t, 1> out{};
  EXPECT_FALSE(decode_hex_lower("AB", out));
  EXPECT_TRUE(decode_hex_lower("ab", out));
  EXPECT_EQ(out[0], 0xab);
}

TEST(DigestTest, EncodeHexLowerWritesLowercase) {
  const std::array<uint8_t, 3> bytes = {0x00, 0xAB, 0xFF};
  std::array<char, 6> out{};
  encode_hex_lower(bytes, out);
  EXPECT_EQ(std::string_view(out.data(), out.size()), "00abff");
}

} // namespace
} // namespace regcache::registry

#include "registry/api/name_grammar.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace regcache::registry {
namespace {

using Validator = bool (*)(std::string_view);

void expect_all(Validator validator, const std::vector<std::string> &inputs, bool expected) {
  for (const std::string &input : inputs) {
    EXPECT_EQ(validator(input), expected) << "input: '" << input << "'";
  }
}

const std::string kSha256Hex(64, 'a');
const std::string kSha512Hex(128, 'b');

TEST(RepositoryNameTest, AcceptsLowercaseComponentsWithEachSeparatorKind) {
  expect_all(is_valid_repository_name,
             {"a", "0", "alpine", "library/alpine", "a/b/c", "a.b", "a_b", "a__b", "a-b", "a--b",
              "a---b", "a1/b2", "foo.bar_baz__qux-quux", "my-org/my.app/v2"},
             true);
}

TEST(RepositoryNameTest, RejectsUppercaseLetters) {
  expect_all(is_valid_repository_name, {"A", "Library/alpine", "library/Alpine"}, false);
}

TEST(RepositoryNameTest, RejectsDoubledDotAndTripleUnderscore) {
  expect_all(is_valid_repository_name, {"a..b", "a___b", "a____b"}, false);
}

TEST(RepositoryNameTest, RejectsMixedSeparators) {
  expect_all(is_valid_repository_name, {"a._b", "a-_b", "a_-b", "a.-b", "a-.b"}, false);
}

TEST(RepositoryNameTest, RejectsLeadingOrTrailingSeparators) {
  expect_all(is_valid_repository_name, {".a", "a.", "_a", "a_", "-a", "a-", "a/-b", "a-/b", "a/.b"},
             false);
}

TEST(RepositoryNameTest, RejectsEmptyAndDotSegments) {
  expect_all(is_valid_repository_name, {"", "/a", "a/", "a//b", "a/../b", "..", "a/./b", "/"},
             false);
}

TEST(RepositoryNameTest, RejectsCharactersOutsideTheGrammar) {
  expect_all(is_valid_repository_name, {"a%2fb", "a b", "a:b", "a@b", "a+b", "a?b", "caf\xc3\xa9"},
             false);
}

TEST(RepositoryNameTest, AcceptsNameOf255Bytes) {
  EXPECT_TRUE(is_valid_repository_name(std::string(255, 'a')));
  EXPECT_TRUE(is_valid_repository_name(std::string(127, 'a') + "/" + std::string(127, 'b')));
}

TEST(RepositoryNameTest, RejectsNameOf256Bytes) {
  EXPECT_FALSE(is_valid_repository_name(std::string(256, 'a')));
  EXPECT_FALSE(is_valid_repository_name(std::string(128, 'a') + "/" + std::string(127, 'b')));
}

TEST(TagTest, AcceptsTagsOfTheGrammar) {
  expect_all(is_valid_tag, {"latest", "v1.2.3", "_private", "A", "Latest", "1.0-rc_1", "0", "a..b"},
             true);
}

TEST(TagTest, AcceptsTagOf128Bytes) {
  EXPECT_TRUE(is_valid_tag(std::string(128, 'a')));
}

TEST(TagTest, RejectsTagOf129Bytes) {
  EXPECT_FALSE(is_valid_tag(std::string(129, 'a')));
}

TEST(TagTest, RejectsEmptyTag) {
  EXPECT_FALSE(is_valid_tag(""));
}

TEST(TagTest, RejectsLeadingDotOrDash) {
  expect_all(is_valid_tag, {".hidden", "-x"}, false);
}

TEST(TagTest, RejectsCharactersOutsideTheGrammar) {
  expect_all(is_valid_tag, {"a/b", "a:b", "a+b", "a b", "a%20", "caf\xc3\xa9", "a@b"}, false);
}

TEST(DigestGrammarTest, AcceptsSha256WithSixtyFourLowercaseHex) {
  EXPECT_TRUE(is_valid_digest("sha256:" + kSha256Hex));
}

TEST(DigestGrammarTest, AcceptsSha512WithOneHundredTwentyEightLowercaseHex) {
  EXPECT_TRUE(is_valid_digest("sha512:" + kSha512Hex));
}

TEST(DigestGrammarTest, AcceptsUnregisteredAlgorithmsOfTheGrammar) {
  expect_all(is_valid_digest,
             {"sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",
              "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8", "a:b",
              "foo.bar-baz_qux+q:abc=", "x1:AZaz09=_-"},
             true);
}

TEST(DigestGrammarTest, RejectsSha256OfWrongLength) {
  expect_all(is_valid_digest, {"sha256:" + kSha256Hex.substr(1), "sha256:" + kSha256Hex + "a"},
             false);
}

TEST(DigestGrammarTest, RejectsSha256WithUppercaseHex) {
  expect_all(is_valid_digest, {"sha256:" + std::string(64, 'A')}, false);
}

TEST(DigestGrammarTest, RejectsSha512OfSha256Length) {
  EXPECT_FALSE(is_valid_digest("sha512:" + kSha256Hex));
}

TEST(DigestGrammarTest, RejectsMalformedAlgorithm) {
  expect_all(is_valid_digest,
             {":abc", "SHA256:" + kSha256Hex, "a..b:x", "-a:b", "a-:b", "a+:b", "a b:c"}, false);
}

TEST(DigestGrammarTest, RejectsMissingOrMalformedEncodedPart) {
  expect_all(is_valid_digest, {"", "sha256", "sha256:", "a:b:c", "a:b c", "a:b/c", "a:b+c", "a:b."},
             false);
}

TEST(HostnameTest, AcceptsLowercaseDnsNames) {
  expect_all(is_valid_hostname,
             {"localhost", "docker.io", "registry-1.docker.io", "a-b.c", "xn--bcher-kva.example",
              "1a.example", "example.123a", std::string(63, 'a') + ".io"},
             true);
}

TEST(HostnameTest, RejectsUppercase) {
  EXPECT_FALSE(is_valid_hostname("Docker.io"));
}

TEST(HostnameTest, RejectsMalformedLabels) {
  expect_all(is_valid_hostname,
             {"", "-a.com", "a-.com", "a..b", ".a", "a.", "a_b.com", "a b", "a:1",
              std::string(64, 'a') + ".io"},
             false);
}

TEST(HostnameTest, RejectsNamesLongerThan253Bytes) {
  std::string name;
  while (name.size() < 250)
    name += std::string(9, 'a') + ".";
  name += "abcd";
  ASSERT_GT(name.size(), 253u);
  EXPECT_FALSE(is_valid_hostname(name));
}

TEST(HostnameTest, RejectsAllNumericLastLabel) {
  expect_all(is_valid_hostname, {"1.2.3.4", "a.b.c.999", "123"}, false);
}

TEST(Ipv4Test, AcceptsDottedQuads) {
  expect_all(is_valid_ipv4, {"0.0.0.0", "127.0.0.1", "255.255.255.255", "10.20.30.40"}, true);
}

TEST(Ipv4Test, RejectsMalformedAddresses) {
  expect_all(is_valid_ipv4,
             {"", "256.0.0.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1..2.3", "1.2.3.4.", ".1.2.3.4",
              "a.b.c.d", "1.2.3.-4", "1.2.3.0x1", "1.2.3.4:80", "1000.2.3.4"},
             false);
}

TEST(Ipv6Test, AcceptsTextualAddresses) {
  expect_all(is_valid_ipv6, {"::1", "::", "2001:db8::1", "::ffff:192.0.2.1", "FE80::1"}, true);
}

TEST(Ipv6Test, RejectsMalformedAddressesZonesAndBrackets) {
  expect_all(is_valid_ipv6,
             {"", "1::2::3", "fe80::1%eth0", "[::1]", "12345::", "g::1", "1.2.3.4",
              std::string("::1\0x", 5), std::string(46, ':')},
             false);
}

TEST(PortTest, AcceptsOneToSixtyFiveThousandFiveHundredThirtyFive) {
  EXPECT_EQ(parse_port("1"), 1);
  EXPECT_EQ(parse_port("80"), 80);
  EXPECT_EQ(parse_port("65535"), 65535);
}

TEST(PortTest, RejectsZeroOverflowSignsAndLeadingZeros) {
  for (std::string_view text :
       {"0", "65536", "", "080", "-1", "+1", "99999", "123456", "1a", " 1"}) {
    EXPECT_FALSE(parse_port(text)) << "input: '" << text << "'";
  }
}

} // namespace
} // namespace regcache::registry

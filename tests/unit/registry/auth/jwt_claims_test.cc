#include "registry/auth/jwt_claims.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "registry/api/base64.h"
#include "tests/unit/http/guarded_input.h"

namespace regcache::registry {
namespace {

std::string base64url_encode(std::string_view bytes) {
  std::string text = base64_encode(bytes);
  while (!text.empty() && text.back() == '=')
    text.pop_back();
  for (char &c : text) {
    if (c == '+')
      c = '-';
    else if (c == '/')
      c = '_';
  }
  return text;
}

const std::string kHeaderSegment = base64url_encode(R"({"alg":"ES256","typ":"JWT"})");

std::string make_jwt(std::string_view payload_json) {
  return kHeaderSegment + "." + base64url_encode(payload_json) + ".c2lnbmF0dXJl";
}

// The example token of the distribution token spec (docs/spec/auth/token.md).
constexpr std::string_view kSpecExampleToken =
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiIsImtpZCI6IlBZWU86VEVXVTpWN0pIOjI2SlY6QVFUWjpMSkMzOlNYVko6WE"
    "dIQTozNEYyOjJMQVE6WlJNSzpaN1E2In0.eyJpc3MiOiJhdXRoLmRvY2tlci5jb20iLCJzdWIiOiJqbGhhd24iLCJhdWQi"
    "OiJyZWdpc3RyeS5kb2NrZXIuY29tIiwiZXhwIjoxNDE1Mzg3MzE1LCJuYmYiOjE0MTUzODcwMTUsImlhdCI6MTQxNTM4Nz"
    "AxNSwianRpIjoidFlKQ08xYzZjbnl5N2tBbjBjN3JLUGdiVjFIMWJGd3MiLCJhY2Nlc3MiOlt7InR5cGUiOiJyZXBvc2l0"
    "b3J5IiwibmFtZSI6InNhbWFsYmEvbXktYXBwIiwiYWN0aW9ucyI6WyJwdXNoIl19XX0."
    "QhflHPfbd6eVF4lM9bwYpFZIV0P"
    "fikbyXuLx959ykRTBpe3CYnzs6YBK8FToVb5R47920PVLrh8zuLzdCr9t3w";

TEST(JwtClaimsTest, ReadsExpiryOfTokenSpecExample) {
  EXPECT_EQ(jwt_expiry_unix_s(kSpecExampleToken), 1415387315);
}

TEST(JwtClaimsTest, ReadsIntegerExpiry) {
  EXPECT_EQ(jwt_expiry_unix_s(make_jwt(R"({"sub":"x","exp":1700000000,"iat":1})")), 1700000000);
}

TEST(JwtClaimsTest, TruncatesFractionalExpiry) {
  EXPECT_EQ(jwt_expiry_unix_s(make_jwt(R"({"exp":1700000000.75})")), 1700000000);
}

TEST(JwtClaimsTest, AcceptsEmptySignatureSegment) {
  EXPECT_EQ(jwt_expiry_unix_s(kHeaderSegment + "." + base64url_encode(R"({"exp":5})") + "."), 5);
}

TEST(JwtClaimsTest, ReturnsNulloptWithoutExpiry) {
  EXPECT_FALSE(jwt_expiry_unix_s(make_jwt(R"({"sub":"x"})")));
  EXPECT_FALSE(jwt_expiry_unix_s(make_jwt(R"({"exp":null})")));
}

TEST(JwtClaimsTest, ReturnsNulloptForNonNumericExpiry) {
  EXPECT_FALSE(jwt_expiry_unix_s(make_jwt(R"({"exp":"1700000000"})")));
  EXPECT_FALSE(jwt_expiry_unix_s(make_jwt(R"({"exp":[1]})")));
}

TEST(JwtClaimsTest, ReturnsNulloptForNegativeOrHugeExpiry) {
  EXPECT_FALSE(jwt_expiry_unix_s(make_jwt(R"({"exp":-1})")));
  EXPECT_FALSE(jwt_expiry_unix_s(make_jwt(R"({"exp":-0.5})")));
  EXPECT_FALSE(jwt_expiry_unix_s(make_jwt(R"({"exp":18446744073709551615})")));
  EXPECT_FALSE(jwt_expiry_unix_s(make_jwt(R"({"exp":1e300})")));
}

TEST(JwtClaimsTest, ReturnsNulloptWhenPayloadIsNotAJsonObject) {
  EXPECT_FALSE(jwt_expiry_unix_s(make_jwt("not json")));
  EXPECT_FALSE(jwt_expiry_unix_s(make_jwt(R"([{"exp":1}])")));
  EXPECT_FALSE(jwt_expiry_unix_s(make_jwt(R"({"exp":1)")));
}

TEST(JwtClaimsTest, ReturnsNulloptForWrongSegmentCount) {
  const std::string payload = base64url_encode(R"({"exp":5})");
  EXPECT_FALSE(jwt_expiry_unix_s(""));
  EXPECT_FALSE(jwt_expiry_unix_s(payload));
  EXPECT_FALSE(jwt_expiry_unix_s(kHeaderSegment + "." + payload));
  EXPECT_FALSE(jwt_expiry_unix_s(kHeaderSegment + "." + payload + ".sig.extra"));
  EXPECT_FALSE(jwt_expiry_unix_s(kHeaderSegment + "." + payload + ".a.b.c"));
}

TEST(JwtClaimsTest, ReturnsNulloptForEmptyHeaderOrPayload) {
  const std::string payload = base64url_encode(R"({"exp":5})");
  EXPECT_FALSE(jwt_expiry_unix_s("." + payload + ".sig"));
  EXPECT_FALSE(jwt_expiry_unix_s(kHeaderSegment + "..sig"));
  EXPECT_FALSE(jwt_expiry_unix_s(".."));
}

TEST(JwtClaimsTest, ReturnsNulloptForPayloadThatIsNotBase64url) {
  EXPECT_FALSE(jwt_expiry_unix_s(kHeaderSegment + ".eyJleHAiOjV9==.sig"));
  EXPECT_FALSE(jwt_expiry_unix_s(kHeaderSegment + ".eyJ!eHAiOjV9.sig"));
}

TEST(JwtClaimsTest, ReturnsNulloptForTokenLongerThanTheLimit) {
  const std::string padding(kJwtBytesMax, 'a');
  EXPECT_FALSE(jwt_expiry_unix_s(make_jwt(R"({"exp":5,"pad":")" + padding + "\"}")));
}

TEST(JwtClaimsTest, ReadsNothingPastTheInputOnAnyPrefix) {
  http::testing::GuardedInput guarded(kSpecExampleToken.size());
  for (size_t prefix_bytes = 0; prefix_bytes <= kSpecExampleToken.size(); ++prefix_bytes) {
    const std::span<const char> input = guarded.place(kSpecExampleToken.substr(0, prefix_bytes));
    const std::optional<int64_t> expiry =
        jwt_expiry_unix_s(std::string_view(input.data(), input.size()));
    if (prefix_bytes < kSpecExampleToken.size() / 2) {
      EXPECT_FALSE(expiry) << prefix_bytes;
    }
  }
}

TEST(JwtClaimsTest, RandomGarbageNeverCrashes) {
  constexpr std::string_view kAlphabet = "eyJ.-_AZaz09=+/\"{}:,";
  std::mt19937 random(777);
  std::uniform_int_distribution<size_t> pick(0, kAlphabet.size() - 1);
  std::uniform_int_distribution<size_t> length(0, 80);
  for (int round = 0; round < 20000; ++round) {
    std::string text(length(random), ' ');
    for (char &c : text)
      c = kAlphabet[pick(random)];
    (void)jwt_expiry_unix_s(text);
  }
}

} // namespace
} // namespace regcache::registry

#include "registry/auth/token_response.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace regcache::registry {
namespace {

TokenResponse parse_ok(std::string_view json) {
  TokenResponse response;
  std::string error;
  EXPECT_TRUE(parse_token_response(json, response, &error)) << json << ": " << error;
  return response;
}

std::string parse_error(std::string_view json) {
  TokenResponse response;
  std::string error;
  EXPECT_FALSE(parse_token_response(json, response, &error)) << json;
  EXPECT_FALSE(error.empty());
  return error;
}

// 2024-05-01T12:00:00Z
constexpr int64_t kMayFirstNoonUnixS = 1714564800;

TEST(TokenResponseTest, ParsesDockerHubResponse) {
  const TokenResponse response =
      parse_ok(R"({"token":"eyJ.a.b","access_token":"eyJ.a.b","expires_in":300,)"
               R"("issued_at":"2024-05-01T12:00:00.123456789Z"})");
  EXPECT_EQ(response.token, "eyJ.a.b");
  EXPECT_EQ(response.expires_in_s, 300u);
  EXPECT_EQ(response.issued_at_unix_s, kMayFirstNoonUnixS);
  EXPECT_EQ(response.refresh_token, "");
}

TEST(TokenResponseTest, UsesAccessTokenWhenTokenIsAbsent) {
  EXPECT_EQ(parse_ok(R"({"access_token":"acr-token"})").token, "acr-token");
}

TEST(TokenResponseTest, UsesAccessTokenWhenTokenIsEmpty) {
  EXPECT_EQ(parse_ok(R"({"token":"","access_token":"acr-token"})").token, "acr-token");
}

TEST(TokenResponseTest, PrefersTokenWhenBothDiffer) {
  EXPECT_EQ(parse_ok(R"({"access_token":"second","token":"first"})").token, "first");
}

TEST(TokenResponseTest, DefaultsExpiryToSixtySecondsWhenAbsent) {
  const TokenResponse response = parse_ok(R"({"token":"t"})");
  EXPECT_EQ(response.expires_in_s, 60u);
  EXPECT_FALSE(response.issued_at_unix_s.has_value());
}

TEST(TokenResponseTest, RaisesZeroExpiryToSixtySeconds) {
  EXPECT_EQ(parse_ok(R"({"token":"t","expires_in":0})").expires_in_s, 60u);
}

TEST(TokenResponseTest, RaisesNegativeExpiryToSixtySeconds) {
  EXPECT_EQ(parse_ok(R"({"token":"t","expires_in":-5})").expires_in_s, 60u);
}

TEST(TokenResponseTest, RaisesExpiryBelowSixtySecondsToSixty) {
  EXPECT_EQ(parse_ok(R"({"token":"t","expires_in":30})").expires_in_s, 60u);
}

TEST(TokenResponseTest, TreatsNullExpiryAsAbsent) {
  EXPECT_EQ(parse_ok(R"({"token":"t","expires_in":null})").expires_in_s, 60u);
}

TEST(TokenResponseTest, TruncatesFractionalExpiry) {
  EXPECT_EQ(parse_ok(R"({"token":"t","expires_in":300.9})").expires_in_s, 300u);
}

TEST(TokenResponseTest, CapsHugeExpiryAtUint32Max) {
  constexpr uint32_t kMax = std::numeric_limits<uint32_t>::max();
  EXPECT_EQ(parse_ok(R"({"token":"t","expires_in":99999999999})").expires_in_s, kMax);
  EXPECT_EQ(parse_ok(R"({"token":"t","expires_in":18446744073709551615})").expires_in_s, kMax);
  EXPECT_EQ(parse_ok(R"({"token":"t","expires_in":1e300})").expires_in_s, kMax);
}

TEST(TokenResponseTest, ReadsRefreshToken) {
  EXPECT_EQ(parse_ok(R"({"token":"t","refresh_token":"r-1"})").refresh_token, "r-1");
}

TEST(TokenResponseTest, IgnoresUnknownFields) {
  EXPECT_EQ(parse_ok(R"({"token":"t","scope":"x","extra":{"a":[1,2]}})").token, "t");
}

TEST(TokenResponseTest, AcceptsIssuedAtWithOffset) {
  EXPECT_EQ(parse_ok(R"({"token":"t","issued_at":"2024-05-01T14:00:00+02:00"})").issued_at_unix_s,
            kMayFirstNoonUnixS);
}

TEST(TokenResponseTest, RejectsNonJson) {
  EXPECT_NE(parse_error("not json").find("not JSON"), std::string::npos);
  parse_error("");
  parse_error("<html><body>502 Bad Gateway</body></html>");
  parse_error(R"({"token":"t")");
}

TEST(TokenResponseTest, RejectsJsonThatIsNotAnObject) {
  EXPECT_NE(parse_error(R"(["token"])").find("not a JSON object"), std::string::npos);
  parse_error(R"("token")");
}

TEST(TokenResponseTest, RejectsResponseWithoutToken) {
  EXPECT_NE(parse_error(R"({"expires_in":300})").find("no non-empty"), std::string::npos);
  parse_error(R"({"token":"","access_token":""})");
  parse_error(R"({"token":null})");
}

TEST(TokenResponseTest, RejectsTokenOfWrongType) {
  parse_error(R"({"token":123})");
  parse_error(R"({"token":"t","access_token":["x"]})");
}

TEST(TokenResponseTest, RejectsExpiryGivenAsString) {
  parse_error(R"({"token":"t","expires_in":"300"})");
}

TEST(TokenResponseTest, RejectsRefreshTokenOfWrongType) {
  parse_error(R"({"token":"t","refresh_token":true})");
}

TEST(TokenResponseTest, RejectsIssuedAtThatIsNotRfc3339) {
  parse_error(R"({"token":"t","issued_at":"yesterday"})");
  parse_error(R"({"token":"t","issued_at":1714564800})");
}

TEST(TokenResponseTest, RejectsTokenThatCouldSplitAHeaderField) {
  parse_error(R"({"token":"abc\r\nX-Injected: 1"})");
  parse_error(R"({"token":"abc def"})");
  parse_error(R"({"token":"abc\u0000"})");
  parse_error(R"({"token":"caf\u00e9"})");
}

TEST(TokenResponseTest, ErrorsNeverContainTheTokenText) {
  for (const std::string_view json : {
           R"({"token":"SECRET\r\n"})",
           R"({"token":"SECRET","expires_in":"x"})",
           R"({"token":"SECRET","issued_at":"SECRET"})",
           R"({"token":"SECRET","refresh_token":"SECRET two"})",
           R"({"token":"SECRET")",
       }) {
    EXPECT_EQ(parse_error(json).find("SECRET"), std::string::npos) << json;
  }
}

TEST(TokenResponseTest, LeavesOutputUntouchedOnFailure) {
  TokenResponse response;
  response.token = "previous";
  EXPECT_FALSE(parse_token_response(R"({"token":"t","expires_in":"x"})", response, nullptr));
  EXPECT_EQ(response.token, "previous");
}

TEST(TokenResponseTest, RejectsResponseLargerThanTheLimit) {
  const std::string json =
      R"({"token":"t","pad":")" + std::string(kTokenResponseBytesMax, 'a') + R"("})";
  EXPECT_NE(parse_error(json).find("larger than"), std::string::npos);
}

TEST(Rfc3339Test, ParsesTokenSpecExample) {
  EXPECT_EQ(parse_rfc3339_unix_s("2009-11-10T23:00:00Z"), 1257894000);
}

TEST(Rfc3339Test, ParsesEpoch) {
  EXPECT_EQ(parse_rfc3339_unix_s("1970-01-01T00:00:00Z"), 0);
}

TEST(Rfc3339Test, ParsesDatesBeforeTheEpoch) {
  EXPECT_EQ(parse_rfc3339_unix_s("1969-12-31T23:59:59Z"), -1);
  EXPECT_EQ(parse_rfc3339_unix_s("0000-01-01T00:00:00Z"), -62167219200);
}

TEST(Rfc3339Test, TruncatesFractionalSeconds) {
  EXPECT_EQ(parse_rfc3339_unix_s("2009-11-10T23:00:00.999999999Z"), 1257894000);
}

TEST(Rfc3339Test, SubtractsPositiveOffsetAndAddsNegativeOne) {
  EXPECT_EQ(parse_rfc3339_unix_s("2009-11-11T00:30:00+01:30"), 1257894000);
  EXPECT_EQ(parse_rfc3339_unix_s("2009-11-10T18:00:00-05:00"), 1257894000);
}

TEST(Rfc3339Test, AcceptsLowercaseSeparatorAndZone) {
  EXPECT_EQ(parse_rfc3339_unix_s("2009-11-10t23:00:00z"), 1257894000);
}

TEST(Rfc3339Test, AcceptsLeapDayOnlyInLeapYears) {
  EXPECT_TRUE(parse_rfc3339_unix_s("2024-02-29T00:00:00Z"));
  EXPECT_TRUE(parse_rfc3339_unix_s("2000-02-29T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339_unix_s("2023-02-29T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339_unix_s("1900-02-29T00:00:00Z"));
}

TEST(Rfc3339Test, RejectsOutOfRangeFields) {
  EXPECT_FALSE(parse_rfc3339_unix_s("2024-13-01T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339_unix_s("2024-00-01T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339_unix_s("2024-04-31T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339_unix_s("2024-01-01T24:00:00Z"));
  EXPECT_FALSE(parse_rfc3339_unix_s("2024-01-01T00:60:00Z"));
  EXPECT_FALSE(parse_rfc3339_unix_s("2024-01-01T00:00:61Z"));
  EXPECT_FALSE(parse_rfc3339_unix_s("2024-01-01T00:00:00+24:00"));
}

TEST(Rfc3339Test, RejectsMalformedText) {
  for (const std::string_view text :
       {"", "2024", "2024-01-01", "2024-01-01T00:00:00", "2024-01-01 00:00:00Z",
        "2024-01-01T00:00:00.Z", "2024-01-01T00:00:00Zjunk", "2024-1-01T00:00:00Z",
        "2024-01-01T00:00:00+0100", "+2024-01-01T00:00:00Z", "2024-01-01T00:00Z"}) {
    EXPECT_FALSE(parse_rfc3339_unix_s(text)) << text;
  }
}

TEST(AcrRefreshTokenResponseTest, ParsesExchangeResponse) {
  std::string refresh_token;
  std::string error;
  ASSERT_TRUE(
      parse_acr_refresh_token_response(R"({"refresh_token":"eyJ.r.s"})", refresh_token, &error))
      << error;
  EXPECT_EQ(refresh_token, "eyJ.r.s");
}

TEST(AcrRefreshTokenResponseTest, RejectsMissingEmptyOrMistypedRefreshToken) {
  for (const std::string_view json :
       {R"({})", R"({"refresh_token":""})", R"({"refresh_token":7})", R"({"access_token":"a"})",
        R"({"refresh_token":"a b"})", "garbage"}) {
    std::string refresh_token = "previous";
    std::string error;
    EXPECT_FALSE(parse_acr_refresh_token_response(json, refresh_token, &error)) << json;
    EXPECT_FALSE(error.empty());
    EXPECT_EQ(refresh_token, "previous");
  }
}

TEST(EntraTokenResponseTest, ParsesImdsResponseWithStringExpiresOn) {
  const std::string_view json =
      R"({"access_token":"eyJ.a.b","client_id":"c","expires_in":"86399",)"
      R"("expires_on":"1506484173","ext_expires_in":"86399","not_before":"1506397473",)"
      R"("resource":"https://management.azure.com/","token_type":"Bearer"})";
  std::string access_token;
  int64_t expires_on = 0;
  std::string error;
  ASSERT_TRUE(parse_entra_token_response(json, 1506400000, access_token, expires_on, &error))
      << error;
  EXPECT_EQ(access_token, "eyJ.a.b");
  EXPECT_EQ(expires_on, 1506484173);
}

TEST(EntraTokenResponseTest, ComputesExpiryFromNumericExpiresIn) {
  const std::string_view json =
      R"({"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ"})";
  std::string access_token;
  int64_t expires_on = 0;
  ASSERT_TRUE(parse_entra_token_response(json, 1000, access_token, expires_on, nullptr));
  EXPECT_EQ(access_token, "eyJ");
  EXPECT_EQ(expires_on, 4599);
}

TEST(EntraTokenResponseTest, ComputesExpiryFromStringExpiresIn) {
  std::string access_token;
  int64_t expires_on = 0;
  ASSERT_TRUE(parse_entra_token_response(R"({"access_token":"a","expires_in":"60"})", 1000,
                                         access_token, expires_on, nullptr));
  EXPECT_EQ(expires_on, 1060);
}

TEST(EntraTokenResponseTest, PrefersExpiresOnOverExpiresIn) {
  std::string access_token;
  int64_t expires_on = 0;
  ASSERT_TRUE(
      parse_entra_token_response(R"({"access_token":"a","expires_in":60,"expires_on":5000})", 1000,
                                 access_token, expires_on, nullptr));
  EXPECT_EQ(expires_on, 5000);
}

TEST(EntraTokenResponseTest, RejectsMalformedOrMissingExpiry) {
  for (const std::string_view json :
       {R"({"access_token":"a"})", R"({"access_token":"a","expires_on":"09/14/2017 00:00:00 PM"})",
        R"({"access_token":"a","expires_on":""})", R"({"access_token":"a","expires_in":"-5"})",
        R"({"access_token":"a","expires_in":-5})", R"({"access_token":"a","expires_in":true})",
        R"({"access_token":"a","expires_in":"1234567890123456789"})"}) {
    std::string access_token = "previous";
    int64_t expires_on = 42;
    std::string error;
    EXPECT_FALSE(parse_entra_token_response(json, 1000, access_token, expires_on, &error)) << json;
    EXPECT_FALSE(error.empty());
    EXPECT_EQ(access_token, "previous");
    EXPECT_EQ(expires_on, 42);
  }
}

TEST(EntraTokenResponseTest, RejectsExpiryThatOverflows) {
  std::string access_token;
  int64_t expires_on = 0;
  std::string error;
  EXPECT_FALSE(parse_entra_token_response(R"({"access_token":"a","expires_in":3599})",
                                          std::numeric_limits<int64_t>::max() - 10, access_token,
                                          expires_on, &error));
  EXPECT_NE(error.find("out of range"), std::string::npos);
}

TEST(EntraTokenResponseTest, RejectsMissingOrUnsafeAccessToken) {
  for (const std::string_view json :
       {R"({"expires_in":60})", R"({"access_token":"","expires_in":60})",
        R"({"access_token":1,"expires_in":60})",
        R"({"access_token":"SECRET\n","expires_in":60})"}) {
    std::string access_token;
    int64_t expires_on = 0;
    std::string error;
    EXPECT_FALSE(parse_entra_token_response(json, 1000, access_token, expires_on, &error)) << json;
    EXPECT_EQ(error.find("SECRET"), std::string::npos);
  }
}

} // namespace
} // namespace regcache::registry

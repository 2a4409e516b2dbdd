#include "http/www_authenticate.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "tests/unit/http/guarded_input.h"

namespace regcache::http {
namespace {

constexpr std::string_view kDockerHub = "Bearer realm=\"https://auth.docker.io/token\","
                                        "service=\"registry.docker.io\","
                                        "scope=\"repository:library/alpine:pull\"";
constexpr std::string_view kGhcr = "Bearer realm=\"https://ghcr.io/token\",service=\"ghcr.io\","
                                   "scope=\"repository:user/image:pull\"";
constexpr std::string_view kAcr =
    "Bearer realm=\"https://myregistry.azurecr.io/oauth2/token\",service=\"myregistry.azurecr.io\"";
constexpr std::string_view kInsufficientScope =
    "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
    "scope=\"repository:samalba/my-app:pull,push\",error=\"insufficient_scope\"";

std::vector<Challenge> parse_ok(std::string_view value) {
  std::vector<Challenge> challenges;
  std::string error;
  EXPECT_TRUE(parse_www_authenticate(value, challenges, &error)) << value << ": " << error;
  return challenges;
}

std::string parse_error(std::string_view value) {
  std::vector<Challenge> challenges;
  std::string error;
  EXPECT_FALSE(parse_www_authenticate(value, challenges, &error)) << value;
  EXPECT_TRUE(challenges.empty());
  EXPECT_FALSE(error.empty());
  return error;
}

std::string param_value(const Challenge &challenge, std::string_view name) {
  const AuthParam *param = challenge.param(name);
  return param == nullptr ? "<absent>" : param->value;
}

// A flat description of a parse, to compare two parses of the same text in different memory.
std::string describe(bool ok, const std::vector<Challenge> &challenges, const std::string &error) {
  if (!ok)
    return "error: " + error;
  std::string text;
  for (const Challenge &challenge : challenges) {
    text += "[" + std::string(challenge.scheme) + "]";
    for (const AuthParam &param : challenge.params)
      text += " " + std::string(param.name) + "=<" + param.value + ">";
    text += ";";
  }
  return text;
}

TEST(WwwAuthenticateTest, ParsesDockerHubChallenge) {
  const std::vector<Challenge> challenges = parse_ok(kDockerHub);
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(challenges[0].scheme, "Bearer");
  ASSERT_EQ(challenges[0].params.size(), 3u);
  EXPECT_EQ(param_value(challenges[0], "realm"), "https://auth.docker.io/token");
  EXPECT_EQ(param_value(challenges[0], "service"), "registry.docker.io");
  EXPECT_EQ(param_value(challenges[0], "scope"), "repository:library/alpine:pull");
}

TEST(WwwAuthenticateTest, ParsesGhcrChallenge) {
  const std::vector<Challenge> challenges = parse_ok(kGhcr);
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(param_value(challenges[0], "realm"), "https://ghcr.io/token");
  EXPECT_EQ(param_value(challenges[0], "service"), "ghcr.io");
  EXPECT_EQ(param_value(challenges[0], "scope"), "repository:user/image:pull");
}

TEST(WwwAuthenticateTest, ParsesAcrChallengeWithoutScope) {
  const std::vector<Challenge> challenges = parse_ok(kAcr);
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(param_value(challenges[0], "realm"), "https://myregistry.azurecr.io/oauth2/token");
  EXPECT_EQ(param_value(challenges[0], "service"), "myregistry.azurecr.io");
  EXPECT_EQ(challenges[0].param("scope"), nullptr);
}

TEST(WwwAuthenticateTest, KeepsInsufficientScopeErrorParameter) {
  const std::vector<Challenge> challenges = parse_ok(kInsufficientScope);
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(param_value(challenges[0], "error"), "insufficient_scope");
  EXPECT_EQ(param_value(challenges[0], "scope"), "repository:samalba/my-app:pull,push");
}

TEST(WwwAuthenticateTest, KeepsCommaInsideQuotedScope) {
  const std::vector<Challenge> challenges =
      parse_ok("Bearer scope=\"repository:a/b:pull,push\",realm=\"r\"");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(param_value(challenges[0], "scope"), "repository:a/b:pull,push");
  EXPECT_EQ(param_value(challenges[0], "realm"), "r");
}

TEST(WwwAuthenticateTest, KeepsSpaceSeparatedScopesInOneValue) {
  const std::vector<Challenge> challenges =
      parse_ok("Bearer realm=\"r\",scope=\"repository:a/b:pull repository:c/d:pull,push\"");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(param_value(challenges[0], "scope"), "repository:a/b:pull repository:c/d:pull,push");
}

TEST(WwwAuthenticateTest, ParsesBasicChallenge) {
  const std::vector<Challenge> challenges = parse_ok("Basic realm=\"Registry Realm\"");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(challenges[0].scheme, "Basic");
  EXPECT_EQ(param_value(challenges[0], "realm"), "Registry Realm");
}

TEST(WwwAuthenticateTest, ParsesSeveralChallengesInOneField) {
  const std::vector<Challenge> challenges =
      parse_ok("Bearer realm=\"a\",service=\"b\", Basic realm=\"c\"");
  ASSERT_EQ(challenges.size(), 2u);
  EXPECT_EQ(challenges[0].scheme, "Bearer");
  ASSERT_EQ(challenges[0].params.size(), 2u);
  EXPECT_EQ(param_value(challenges[0], "realm"), "a");
  EXPECT_EQ(param_value(challenges[0], "service"), "b");
  EXPECT_EQ(challenges[1].scheme, "Basic");
  ASSERT_EQ(challenges[1].params.size(), 1u);
  EXPECT_EQ(param_value(challenges[1], "realm"), "c");
}

TEST(WwwAuthenticateTest, ParsesChallengeWithoutParametersBeforeAnother) {
  const std::vector<Challenge> challenges = parse_ok("Negotiate, Bearer realm=\"r\"");
  ASSERT_EQ(challenges.size(), 2u);
  EXPECT_EQ(challenges[0].scheme, "Negotiate");
  EXPECT_TRUE(challenges[0].params.empty());
  EXPECT_EQ(challenges[1].scheme, "Bearer");
}

TEST(WwwAuthenticateTest, ParsesSchemeAloneWithTrailingSpace) {
  const std::vector<Challenge> challenges = parse_ok("Basic ");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_TRUE(challenges[0].params.empty());
}

TEST(WwwAuthenticateTest, UnescapesQuotedPairs) {
  const std::vector<Challenge> challenges = parse_ok(R"(Bearer realm="a\"b\\c\d")");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(param_value(challenges[0], "realm"), "a\"b\\cd");
}

TEST(WwwAuthenticateTest, KeepsEmptyQuotedValue) {
  const std::vector<Challenge> challenges = parse_ok("Bearer realm=\"\",service=\"s\"");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(param_value(challenges[0], "realm"), "");
}

TEST(WwwAuthenticateTest, AcceptsTokenValuesWithoutQuotes) {
  const std::vector<Challenge> challenges = parse_ok("Bearer realm=example,charset=UTF-8");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(param_value(challenges[0], "realm"), "example");
  EXPECT_EQ(param_value(challenges[0], "charset"), "UTF-8");
}

TEST(WwwAuthenticateTest, ParsesToken68AsOneUnnamedParameter) {
  const std::vector<Challenge> challenges = parse_ok("Negotiate YII+/abc-._~==");
  ASSERT_EQ(challenges.size(), 1u);
  ASSERT_EQ(challenges[0].params.size(), 1u);
  EXPECT_TRUE(challenges[0].params[0].name.empty());
  EXPECT_EQ(challenges[0].params[0].value, "YII+/abc-._~==");
}

TEST(WwwAuthenticateTest, ParsesToken68FollowedByAnotherChallenge) {
  const std::vector<Challenge> challenges = parse_ok("Negotiate abc= , Basic realm=\"x\"");
  ASSERT_EQ(challenges.size(), 2u);
  EXPECT_EQ(challenges[0].params[0].value, "abc=");
  EXPECT_EQ(challenges[1].scheme, "Basic");
  EXPECT_EQ(param_value(challenges[1], "realm"), "x");
}

TEST(WwwAuthenticateTest, ComparesParameterNamesIgnoringCase) {
  const std::vector<Challenge> challenges = parse_ok("Bearer REALM=\"r\",Service=\"s\"");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(param_value(challenges[0], "realm"), "r");
  EXPECT_EQ(param_value(challenges[0], "SERVICE"), "s");
}

TEST(WwwAuthenticateTest, ReturnsNullForAbsentParameter) {
  const std::vector<Challenge> challenges = parse_ok(kAcr);
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(challenges[0].param("scope"), nullptr);
  EXPECT_EQ(challenges[0].param("realmx"), nullptr);
  EXPECT_EQ(challenges[0].param(""), nullptr);
}

TEST(WwwAuthenticateTest, KeepsUnknownParameters) {
  const std::vector<Challenge> challenges = parse_ok("Bearer realm=\"r\",foo=\"bar\",x=y");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(param_value(challenges[0], "foo"), "bar");
  EXPECT_EQ(param_value(challenges[0], "x"), "y");
}

TEST(WwwAuthenticateTest, AcceptsWhitespaceAroundEqualsAndCommas) {
  const std::vector<Challenge> challenges =
      parse_ok("Bearer \trealm = \"r\" ,\tservice=\t\"s\"  ,  Basic  realm=\"b\"");
  ASSERT_EQ(challenges.size(), 2u);
  EXPECT_EQ(param_value(challenges[0], "realm"), "r");
  EXPECT_EQ(param_value(challenges[0], "service"), "s");
  EXPECT_EQ(param_value(challenges[1], "realm"), "b");
}

TEST(WwwAuthenticateTest, AcceptsEmptyListElements) {
  const std::vector<Challenge> challenges =
      parse_ok(" , ,Bearer realm=\"r\",, ,service=\"s\",,, Basic ,,");
  ASSERT_EQ(challenges.size(), 2u);
  EXPECT_EQ(param_value(challenges[0], "service"), "s");
  EXPECT_EQ(challenges[1].scheme, "Basic");
}

TEST(WwwAuthenticateTest, AttachesParameterAfterEmptyElementToItsChallenge) {
  const std::vector<Challenge> challenges = parse_ok("Bearer , realm=\"r\"");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(param_value(challenges[0], "realm"), "r");
}

TEST(WwwAuthenticateTest, SchemeAndNamesAreViewsIntoTheInput) {
  const std::string value(kDockerHub);
  std::vector<Challenge> challenges;
  ASSERT_TRUE(parse_www_authenticate(value, challenges, nullptr));
  const std::span<const char> input(value.data(), value.size());
  EXPECT_TRUE(testing::view_is_inside(input, challenges[0].scheme));
  for (const AuthParam &param : challenges[0].params)
    EXPECT_TRUE(testing::view_is_inside(input, param.name));
}

TEST(WwwAuthenticateTest, RejectsEmptyValue) {
  EXPECT_NE(parse_error("").find("no challenge"), std::string::npos);
}

TEST(WwwAuthenticateTest, RejectsOnlySeparators) {
  EXPECT_NE(parse_error(" ,\t, ").find("no challenge"), std::string::npos);
}

TEST(WwwAuthenticateTest, RejectsUnterminatedQuotedString) {
  EXPECT_EQ(parse_error("Bearer realm=\"https://auth.docker.io/token"),
            "unterminated quoted-string at offset 13");
}

TEST(WwwAuthenticateTest, RejectsBackslashEndingTheValue) {
  EXPECT_NE(parse_error("Bearer realm=\"abc\\").find("unterminated"), std::string::npos);
}

TEST(WwwAuthenticateTest, RejectsEqualsWithoutName) {
  parse_error("=x");
  parse_error("Bearer =\"x\"");
  parse_error("Bearer realm=\"r\",=\"x\"");
}

TEST(WwwAuthenticateTest, RejectsNameWithoutValue) {
  EXPECT_NE(parse_error("Bearer realm=\"r\",service=").find("auth-param value"), std::string::npos);
}

TEST(WwwAuthenticateTest, RejectsMissingCommaBetweenParameters) {
  EXPECT_EQ(parse_error("Bearer realm=\"a\" service=\"b\""),
            "expected ',' after an auth-param at offset 17");
}

TEST(WwwAuthenticateTest, RejectsQuoteRightAfterScheme) {
  EXPECT_NE(parse_error("Bearer\"realm\"").find("space after the auth-scheme"), std::string::npos);
}

TEST(WwwAuthenticateTest, RejectsUnquotedValueWithNonTokenCharacters) {
  parse_error("Bearer realm=https://auth.docker.io/token");
}

TEST(WwwAuthenticateTest, RejectsControlCharacterInQuotedString) {
  parse_error(std::string("Bearer realm=\"a\x01") + "b\"");
  parse_error("Bearer realm=\"a\x7f\"");
  parse_error("Bearer realm=\"a\r\nb\"");
}

TEST(WwwAuthenticateTest, RejectsControlCharacterAfterBackslash) {
  parse_error("Bearer realm=\"a\\\nb\"");
}

TEST(WwwAuthenticateTest, RejectsLineBreakBetweenParameters) {
  parse_error("Bearer realm=\"a\",\r\n service=\"b\"");
}

TEST(WwwAuthenticateTest, RejectsRepeatedParameterNameIgnoringCase) {
  EXPECT_EQ(parse_error("Bearer realm=\"a\",REALM=\"b\""),
            "auth-param name repeated in one challenge at offset 17");
}

TEST(WwwAuthenticateTest, AcceptsSameParameterNameInDifferentChallenges) {
  EXPECT_EQ(parse_ok("Bearer realm=\"a\", Basic realm=\"b\"").size(), 2u);
}

TEST(WwwAuthenticateTest, RejectsHundredKibibytesOfCommas) {
  const std::string commas(100 * 1024, ',');
  EXPECT_NE(parse_error(commas).find("longer than 8192 bytes"), std::string::npos);
}

TEST(WwwAuthenticateTest, RejectsCommasUpToTheSizeLimitAsNoChallenge) {
  const std::string commas(kWwwAuthenticateBytesMax, ',');
  EXPECT_NE(parse_error(commas).find("no challenge"), std::string::npos);
}

TEST(WwwAuthenticateTest, AcceptsValueOfExactlyTheSizeLimit) {
  const std::string prefix = "Bearer realm=\"";
  const std::string value =
      prefix + std::string(kWwwAuthenticateBytesMax - prefix.size() - 1, 'a') + "\"";
  ASSERT_EQ(value.size(), kWwwAuthenticateBytesMax);
  EXPECT_EQ(parse_ok(value).size(), 1u);
  parse_error(value + " ");
}

TEST(WwwAuthenticateTest, AcceptsThirtyTwoChallengesAndRejectsThirtyThree) {
  std::string value = "Basic";
  for (size_t i = 1; i < kChallengesMax; ++i)
    value += ", Basic";
  EXPECT_EQ(parse_ok(value).size(), kChallengesMax);
  EXPECT_NE(parse_error(value + ", Basic").find("more than 32 challenges"), std::string::npos);
}

TEST(WwwAuthenticateTest, AcceptsThirtyTwoParametersAndRejectsThirtyThree) {
  std::string value = "Bearer p0=x";
  for (size_t i = 1; i < kAuthParamsPerChallengeMax; ++i)
    value += ",p" + std::to_string(i) + "=x";
  const std::vector<Challenge> challenges = parse_ok(value);
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(challenges[0].params.size(), kAuthParamsPerChallengeMax);
  EXPECT_NE(parse_error(value + ",p99=x").find("more than 32 auth-params"), std::string::npos);
}

TEST(WwwAuthenticateTest, ClearsOutputOnFailure) {
  std::vector<Challenge> challenges = parse_ok(kDockerHub);
  ASSERT_FALSE(challenges.empty());
  EXPECT_FALSE(parse_www_authenticate("Bearer realm=\"", challenges, nullptr));
  EXPECT_TRUE(challenges.empty());
}

TEST(WwwAuthenticateTest, ReplacesEarlierOutputOnSuccess) {
  std::vector<Challenge> challenges = parse_ok("Basic, Basic, Basic");
  ASSERT_TRUE(parse_www_authenticate(kAcr, challenges, nullptr));
  EXPECT_EQ(challenges.size(), 1u);
}

TEST(WwwAuthenticateTest, EveryPrefixOfRealHeadersParsesWithinTheInput) {
  for (const std::string_view header : {kDockerHub, kGhcr, kAcr, kInsufficientScope}) {
    testing::GuardedInput guarded(header.size());
    // Bounded: one parse per prefix length.
    for (size_t prefix_bytes = 0; prefix_bytes <= header.size(); ++prefix_bytes) {
      const std::span<const char> input = guarded.place(header.substr(0, prefix_bytes));
      const std::string_view text(input.data(), input.size());
      std::vector<Challenge> challenges;
      std::string error;
      const bool ok = parse_www_authenticate(text, challenges, &error);
      EXPECT_TRUE(ok || !error.empty()) << prefix_bytes;
      for (const Challenge &challenge : challenges) {
        EXPECT_TRUE(testing::view_is_inside(input, challenge.scheme));
        for (const AuthParam &param : challenge.params)
          EXPECT_TRUE(testing::view_is_inside(input, param.name));
      }
      const std::string copy(text);
      std::vector<Challenge> copy_challenges;
      std::string copy_error;
      const bool copy_ok = parse_www_authenticate(copy, copy_challenges, &copy_error);
      EXPECT_EQ(describe(ok, challenges, error), describe(copy_ok, copy_challenges, copy_error))
          << "prefix of " << prefix_bytes << " bytes";
    }
  }
}

TEST(WwwAuthenticateTest, RandomGarbageNeverCrashesAndFailsWithAnError) {
  constexpr std::string_view kAlphabet = "Bearer realm=\",\\ \t=ab/:\x01\xff";
  std::mt19937 random(12345);
  std::uniform_int_distribution<size_t> pick(0, kAlphabet.size() - 1);
  std::uniform_int_distribution<size_t> length(0, 64);
  testing::GuardedInput guarded(64);
  for (int round = 0; round < 20000; ++round) {
    std::string text(length(random), ' ');
    for (char &c : text)
      c = kAlphabet[pick(random)];
    const std::span<const char> input = guarded.place(text);
    std::vector<Challenge> challenges;
    std::string error;
    if (parse_www_authenticate(std::string_view(input.data(), input.size()), challenges, &error))
      EXPECT_FALSE(challenges.empty()) << text;
    else
      EXPECT_FALSE(error.empty()) << text;
  }
}

TEST(WwwAuthenticateTest, FindBearerReturnsRealmServiceAndScope) {
  const std::vector<Challenge> challenges = parse_ok(kDockerHub);
  const std::optional<BearerChallenge> bearer = find_bearer(challenges);
  ASSERT_TRUE(bearer.has_value());
  EXPECT_EQ(bearer->realm, "https://auth.docker.io/token");
  EXPECT_EQ(bearer->service, "registry.docker.io");
  EXPECT_EQ(bearer->scope, "repository:library/alpine:pull");
}

TEST(WwwAuthenticateTest, FindBearerLeavesScopeEmptyWhenAbsent) {
  const std::optional<BearerChallenge> bearer = find_bearer(parse_ok(kAcr));
  ASSERT_TRUE(bearer.has_value());
  EXPECT_EQ(bearer->service, "myregistry.azurecr.io");
  EXPECT_EQ(bearer->scope, "");
}

TEST(WwwAuthenticateTest, FindBearerMatchesSchemeIgnoringCase) {
  const std::optional<BearerChallenge> bearer = find_bearer(parse_ok("bEARER realm=\"r\""));
  ASSERT_TRUE(bearer.has_value());
  EXPECT_EQ(bearer->realm, "r");
}

TEST(WwwAuthenticateTest, FindBearerSkipsBearerWithoutRealm) {
  const std::optional<BearerChallenge> bearer =
      find_bearer(parse_ok("Bearer service=\"x\", Bearer realm=\"\", Bearer realm=\"r2\""));
  ASSERT_TRUE(bearer.has_value());
  EXPECT_EQ(bearer->realm, "r2");
}

TEST(WwwAuthenticateTest, FindBearerFindsBearerAfterBasic) {
  const std::optional<BearerChallenge> bearer =
      find_bearer(parse_ok("Basic realm=\"b\", Bearer realm=\"r\""));
  ASSERT_TRUE(bearer.has_value());
  EXPECT_EQ(bearer->realm, "r");
}

TEST(WwwAuthenticateTest, FindBearerReturnsNulloptForBasicOnly) {
  EXPECT_FALSE(find_bearer(parse_ok("Basic realm=\"Registry Realm\"")).has_value());
}

TEST(WwwAuthenticateTest, HasBasicFindsBasicAmongOthersIgnoringCase) {
  EXPECT_TRUE(has_basic(parse_ok("Bearer realm=\"r\", bAsIc realm=\"b\"")));
}

TEST(WwwAuthenticateTest, HasBasicIsFalseForBearerOnly) {
  EXPECT_FALSE(has_basic(parse_ok(kDockerHub)));
}

TEST(WwwAuthenticateTest, HasBasicIsFalseForNoChallenges) {
  EXPECT_FALSE(has_basic(std::span<const Challenge>()));
  EXPECT_FALSE(find_bearer(std::span<const Challenge>()).has_value());
}

} // namespace
} // namespace regcache::http

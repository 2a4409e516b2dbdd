#include "registry/api/base64.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "tests/unit/http/guarded_input.h"

namespace regcache::registry {
namespace {

TEST(Base64Test, EncodesRfc4648TestVectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

TEST(Base64Test, EncodesBasicCredentialsOfRfc7617) {
  EXPECT_EQ(base64_encode("Aladdin:open sesame"), "QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
}

TEST(Base64Test, EncodesHighBytesWithPlusAndSlash) {
  EXPECT_EQ(base64_encode("\xfb\xff"), "+/8=");
}

TEST(Base64Test, DecodesRfc4648TestVectors) {
  EXPECT_EQ(base64_decode(""), "");
  EXPECT_EQ(base64_decode("Zg=="), "f");
  EXPECT_EQ(base64_decode("Zm8="), "fo");
  EXPECT_EQ(base64_decode("Zm9v"), "foo");
  EXPECT_EQ(base64_decode("Zm9vYg=="), "foob");
  EXPECT_EQ(base64_decode("Zm9vYmE="), "fooba");
  EXPECT_EQ(base64_decode("Zm9vYmFy"), "foobar");
}

TEST(Base64Test, DecodesWithoutPadding) {
  EXPECT_EQ(base64_decode("Zg"), "f");
  EXPECT_EQ(base64_decode("Zm8"), "fo");
  EXPECT_EQ(base64_decode("Zm9vYg"), "foob");
}

// The next two came from docker_config_test.cc, where they tested docker_config's own decoder
// before it was replaced by this one.
TEST(Base64Test, DecodesWithAndWithoutPadding) {
  EXPECT_EQ(base64_decode("dTpw"), "u:p");
  EXPECT_EQ(base64_decode("YQ=="), "a");
  EXPECT_EQ(base64_decode("YQ"), "a");
  EXPECT_EQ(base64_decode("YWI="), "ab");
  EXPECT_EQ(base64_decode(""), "");
  EXPECT_EQ(base64_decode("Pz8/"), "??\x3f");
  EXPECT_EQ(base64_decode("+/+/"), std::string("\xfb\xff\xbf"));
}

TEST(Base64Test, RejectsOtherCharactersAndImpossibleLengths) {
  EXPECT_EQ(base64_decode("dT pw"), std::nullopt);
  EXPECT_EQ(base64_decode("dT=w"), std::nullopt);
  EXPECT_EQ(base64_decode("dTpwY"), std::nullopt);
  EXPECT_EQ(base64_decode("-_"), std::nullopt);
}

TEST(Base64Test, RoundTripsEveryByteValue) {
  std::string bytes;
  for (int i = 0; i < 256; ++i)
    bytes.push_back(static_cast<char>(i));
  for (size_t length = 0; length <= bytes.size(); ++length) {
    const std::string slice = bytes.substr(bytes.size() - length);
    EXPECT_EQ(base64_decode(base64_encode(slice)), slice) << length;
  }
}

TEST(Base64Test, RejectsCharacterOutsideTheAlphabet) {
  EXPECT_FALSE(base64_decode("Zm9v!"));
  EXPECT_FALSE(base64_decode("Zm9\x80"));
}

TEST(Base64Test, RejectsWhitespace) {
  EXPECT_FALSE(base64_decode("Zm9v YmFy"));
  EXPECT_FALSE(base64_decode("Zm9v\n"));
}

TEST(Base64Test, RejectsLengthNoEncodingHas) {
  EXPECT_FALSE(base64_decode("Z"));
  EXPECT_FALSE(base64_decode("Zm9vY"));
}

TEST(Base64Test, RejectsIncompletePadding) {
  EXPECT_FALSE(base64_decode("Zg="));
  EXPECT_FALSE(base64_decode("="));
}

TEST(Base64Test, RejectsTooMuchPadding) {
  EXPECT_FALSE(base64_decode("Zg==="));
  EXPECT_FALSE(base64_decode("Z==="));
  EXPECT_FALSE(base64_decode("===="));
  EXPECT_FALSE(base64_decode("Zm9v===="));
}

TEST(Base64Test, RejectsPaddingInTheMiddle) {
  EXPECT_FALSE(base64_decode("Zg==Zg=="));
  EXPECT_FALSE(base64_decode("Z=g="));
}

TEST(Base64Test, RejectsNonZeroUnusedTrailingBits) {
  EXPECT_FALSE(base64_decode("Zh=="));
  EXPECT_FALSE(base64_decode("Zm9="));
  EXPECT_FALSE(base64_decode("Zh"));
}

TEST(Base64Test, StandardDecodeRejectsUrlAlphabet) {
  EXPECT_FALSE(base64_decode("-_8="));
}

TEST(Base64Test, UrlDecodesDashAndUnderscore) {
  EXPECT_EQ(base64url_decode("-_8"), "\xfb\xff");
}

TEST(Base64Test, UrlDecodesJwtHeader) {
  EXPECT_EQ(base64url_decode("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"),
            R"({"alg":"HS256","typ":"JWT"})");
}

TEST(Base64Test, UrlDecodeRejectsPadding) {
  EXPECT_FALSE(base64url_decode("Zg=="));
  EXPECT_FALSE(base64url_decode("Zm8="));
}

TEST(Base64Test, UrlDecodeRejectsStandardAlphabetPlusAndSlash) {
  EXPECT_FALSE(base64url_decode("+/8"));
}

TEST(Base64Test, UrlDecodeRejectsLengthNoEncodingHas) {
  EXPECT_FALSE(base64url_decode("Zm9vY"));
}

TEST(Base64Test, DecodersReadNothingPastTheInput) {
  const std::string text = "Zm9vYmFyZg==";
  http::testing::GuardedInput guarded(text.size());
  for (size_t prefix_bytes = 0; prefix_bytes <= text.size(); ++prefix_bytes) {
    const std::span<const char> input =
        guarded.place(std::string_view(text).substr(0, prefix_bytes));
    const std::string_view view(input.data(), input.size());
    EXPECT_EQ(base64_decode(view), base64_decode(std::string(view)));
    EXPECT_EQ(base64url_decode(view), base64url_decode(std::string(view)));
  }
}

} // namespace
} // namespace regcache::registry

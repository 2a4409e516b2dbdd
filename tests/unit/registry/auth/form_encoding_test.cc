#include "registry/auth/form_encoding.h"

#include <gtest/gtest.h>

#include <array>
#include <string>

namespace regcache::registry {
namespace {

using Field = std::pair<std::string_view, std::string_view>;

TEST(FormEncodingTest, EncodesAcrExchangeForm) {
  const std::array<Field, 3> fields = {{{"grant_type", "access_token"},
                                        {"service", "myregistry.azurecr.io"},
                                        {"access_token", "eyJ0.a-b_c~d"}}};
  EXPECT_EQ(form_urlencode(fields),
            "grant_type=access_token&service=myregistry.azurecr.io&access_token=eyJ0.a-b_c~d");
}

TEST(FormEncodingTest, PercentEncodesScopeInFormBody) {
  const std::array<Field, 1> fields = {{{"scope", "repository:a/b:pull,push"}}};
  EXPECT_EQ(form_urlencode(fields), "scope=repository%3Aa%2Fb%3Apull%2Cpush");
}

TEST(FormEncodingTest, EncodesSpaceAsPercentTwentyAndPlusAsPercentTwoB) {
  const std::array<Field, 1> fields = {{{"scope", "a b+c"}}};
  EXPECT_EQ(form_urlencode(fields), "scope=a%20b%2Bc");
}

TEST(FormEncodingTest, EncodesDelimitersInNamesAndValues) {
  const std::array<Field, 1> fields = {{{"a&b=c", "d=e&f"}}};
  EXPECT_EQ(form_urlencode(fields), "a%26b%3Dc=d%3De%26f");
}

TEST(FormEncodingTest, EncodesNonAsciiBytesAsUppercaseHex) {
  const std::array<Field, 1> fields = {{{"n", "caf\xc3\xa9\x7f"}}};
  EXPECT_EQ(form_urlencode(fields), "n=caf%C3%A9%7F");
}

TEST(FormEncodingTest, KeepsEqualsForEmptyValue) {
  const std::array<Field, 2> fields = {{{"a", ""}, {"b", "1"}}};
  EXPECT_EQ(form_urlencode(fields), "a=&b=1");
}

TEST(FormEncodingTest, EmptyFieldListGivesEmptyBody) {
  EXPECT_EQ(form_urlencode({}), "");
}

TEST(FormEncodingTest, QueryEscapeKeepsScopeReadable) {
  EXPECT_EQ(url_query_escape("repository:samalba/my-app:pull,push"),
            "repository:samalba/my-app:pull,push");
}

TEST(FormEncodingTest, QueryEscapeEncodesSpaceBetweenScopes) {
  EXPECT_EQ(url_query_escape("repository:a:pull repository:b:pull"),
            "repository:a:pull%20repository:b:pull");
}

TEST(FormEncodingTest, QueryEscapeEncodesQueryDelimiters) {
  EXPECT_EQ(url_query_escape("&=+#?;%"), "%26%3D%2B%23%3F%3B%25");
}

TEST(FormEncodingTest, QueryEscapeEncodesControlBytes) {
  EXPECT_EQ(url_query_escape(std::string_view("\r\n\0", 3)), "%0D%0A%00");
}

TEST(FormEncodingTest, QueryEscapeKeepsUnreservedAndAt) {
  EXPECT_EQ(url_query_escape("AZaz09-._~@"), "AZaz09-._~@");
}

TEST(FormEncodingTest, QueryEscapeOfEmptyValueIsEmpty) {
  EXPECT_EQ(url_query_escape(""), "");
}

} // namespace
} // namespace regcache::registry

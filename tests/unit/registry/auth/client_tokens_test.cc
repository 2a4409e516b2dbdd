#include "registry/auth/client_tokens.h"

#include <gtest/gtest.h>

namespace regcache::registry {
namespace {

constexpr int64_t kNow = 1'800'000'000;

TEST(ClientTokensTest, ATokenNamesItsUserUntilItExpires) {
  const ClientTokens tokens;
  const std::string token = tokens.issue("alice", kNow);
  EXPECT_EQ(tokens.verify(token, kNow), "alice");
  EXPECT_EQ(tokens.verify(token, kNow + ClientTokens::kLifetimeS - 1), "alice");
  EXPECT_FALSE(tokens.verify(token, kNow + ClientTokens::kLifetimeS).has_value());
}

TEST(ClientTokensTest, AnAnonymousTokenNamesNoUser) {
  const ClientTokens tokens;
  EXPECT_EQ(tokens.verify(tokens.issue("", kNow), kNow), "");
}

TEST(ClientTokensTest, AChangedUserOrExpiryBreaksTheSignature) {
  const ClientTokens tokens;
  const std::string token = tokens.issue("alice", kNow); // "<hex user>.<expiry>.<mac>"
  std::string other_user = token;
  other_user.replace(0, 10, "626f626f62"); // "bobob"
  EXPECT_FALSE(tokens.verify(other_user, kNow).has_value());
  std::string later = token;
  const size_t dot = later.find('.');
  later[dot + 1] = later[dot + 1] == '9' ? '8' : '9';
  EXPECT_FALSE(tokens.verify(later, kNow).has_value());
}

TEST(ClientTokensTest, ATokenFromAnotherKeyIsRefused) {
  const ClientTokens mine;
  const ClientTokens theirs;
  EXPECT_FALSE(mine.verify(theirs.issue("alice", kNow), kNow).has_value());
}

TEST(ClientTokensTest, GarbageIsRefused) {
  const ClientTokens tokens;
  for (std::string_view garbage : {"", ".", "..", "abc", "61.1.zz", "6.1900000000.00"})
    EXPECT_FALSE(tokens.verify(garbage, kNow).has_value()) << garbage;
}

} // namespace
} // namespace regcache::registry

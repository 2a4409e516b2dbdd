#include "registry/api/client_policy.h"

#include <gtest/gtest.h>

namespace regcache::registry {
namespace {

TEST(ClientPolicyTest, AnyAdmitsAnonymousClients) {
  std::string problem;
  EXPECT_TRUE(client_policy_allows(*parse_client_policy("any", &problem), ""));
}

TEST(ClientPolicyTest, AuthenticatedAdmitsEveryUserButNoAnonymousClient) {
  std::string problem;
  const ClientPolicy policy = *parse_client_policy("authenticated", &problem);
  EXPECT_FALSE(client_policy_allows(policy, ""));
  EXPECT_TRUE(client_policy_allows(policy, "alice"));
}

TEST(ClientPolicyTest, AListAdmitsItsUsersOnly) {
  std::string problem;
  const ClientPolicy policy = *parse_client_policy("alice, bob", &problem);
  EXPECT_TRUE(client_policy_allows(policy, "bob"));
  EXPECT_FALSE(client_policy_allows(policy, "carol"));
  EXPECT_FALSE(client_policy_allows(policy, ""));
  EXPECT_FALSE(parse_client_policy("alice,b:ob", &problem).has_value());
  EXPECT_FALSE(parse_client_policy(" , ", &problem).has_value());
}

} // namespace
} // namespace regcache::registry

#pragma once
// Which clients may use an upstream ("clients" per upstream in the config file, --clients for
// the default one): anyone, any authenticated user, or the users listed.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace regcache::registry {

struct ClientPolicy {
  enum class Kind : uint8_t { Any, Authenticated, Users };
  Kind kind = Kind::Any;
  std::vector<std::string> users; // for Users
};

// "any", "authenticated", or user names separated by commas.
std::optional<ClientPolicy> parse_client_policy(std::string_view text, std::string *problem);

// `user` is empty for an anonymous client.
bool client_policy_allows(const ClientPolicy &policy, std::string_view user);

} // namespace regcache::registry

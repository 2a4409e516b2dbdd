#include "registry/api/client_policy.h"

#include <algorithm>

#include "http/message_head.h"

namespace regcache::registry {
namespace {

// htpasswd user names: no ':' (the separator), no spaces or control bytes.
bool is_user_name(std::string_view name) {
  return !name.empty() && name.size() <= 255 && std::all_of(name.begin(), name.end(), [](char c) {
    return static_cast<unsigned char>(c) > ' ' && c != ':' && c != ',' && c != 0x7f;
  });
}

} // namespace

std::optional<ClientPolicy> parse_client_policy(std::string_view text, std::string *problem) {
  ClientPolicy policy;
  const std::string_view trimmed = http::trim_ows(text);
  if (trimmed == "any")
    return policy;
  if (trimmed == "authenticated") {
    policy.kind = ClientPolicy::Kind::Authenticated;
    return policy;
  }
  policy.kind = ClientPolicy::Kind::Users;
  std::string_view rest = trimmed;
  while (!rest.empty()) { // bounded: each turn removes one element
    const size_t comma = rest.find(',');
    const std::string_view user = http::trim_ows(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (user.empty())
      continue;
    if (!is_user_name(user)) {
      *problem = "expected any, authenticated, or user names separated by commas; '" +
                 std::string(user) + "' is not a user name";
      return std::nullopt;
    }
    policy.users.emplace_back(user);
  }
  if (policy.users.empty()) {
    *problem = "expected any, authenticated, or user names separated by commas";
    return std::nullopt;
  }
  return policy;
}

bool client_policy_allows(const ClientPolicy &policy, std::string_view user) {
  switch (policy.kind) {
  case ClientPolicy::Kind::Any:
    return true;
  case ClientPolicy::Kind::Authenticated:
    return !user.empty();
  case ClientPolicy::Kind::Users:
    return !user.empty() &&
           std::find(policy.users.begin(), policy.users.end(), user) != policy.users.end();
  }
  return false;
}

} // namespace regcache::registry

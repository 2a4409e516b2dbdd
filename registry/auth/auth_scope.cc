#include "registry/auth/auth_scope.h"

#include <algorithm>
#include <vector>

namespace regcache::registry {

namespace {

// Splits on spaces, dropping empty pieces (the spec separates scopes by one space; extra
// spaces carry no meaning). Views point into `scope`.
std::vector<std::string_view> split_scopes(std::string_view scope) {
  std::vector<std::string_view> scopes;
  size_t pos = 0;
  while (pos < scope.size()) { // bounded: each round consumes at least one byte
    const size_t end = std::min(scope.find(' ', pos), scope.size());
    if (end > pos)
      scopes.push_back(scope.substr(pos, end - pos));
    pos = end + 1;
  }
  return scopes;
}

void append_length_prefixed(std::string &key, std::string_view field) {
  key += std::to_string(field.size());
  key += ':';
  key += field;
}

} // namespace

std::string repository_pull_scope(std::string_view name) {
  std::string scope;
  scope.reserve(kRepositoryScopePrefix.size() + name.size() + 5);
  scope += kRepositoryScopePrefix;
  scope += name;
  scope += ":pull";
  return scope;
}

std::string add_prefix_to_scope(std::string_view scope, std::string_view prefix) {
  while (!prefix.empty() && prefix.back() == '/')
    prefix.remove_suffix(1);
  std::string result;
  result.reserve(scope.size() + 8 * (prefix.size() + 1));
  for (const std::string_view one : split_scopes(scope)) {
    if (!result.empty())
      result += ' ';
    if (prefix.empty() || !one.starts_with(kRepositoryScopePrefix)) {
      result += one;
      continue;
    }
    result += kRepositoryScopePrefix;
    result += prefix;
    result += '/';
    result += one.substr(kRepositoryScopePrefix.size());
  }
  return result;
}

std::string token_cache_key(std::string_view upstream, std::string_view scope,
                            std::string_view credential_id) {
  std::vector<std::string_view> scopes = split_scopes(scope);
  std::sort(scopes.begin(), scopes.end());
  scopes.erase(std::unique(scopes.begin(), scopes.end()), scopes.end());
  std::string key;
  key.reserve(upstream.size() + scope.size() + credential_id.size() + 32);
  append_length_prefixed(key, upstream);
  append_length_prefixed(key, credential_id);
  key += std::to_string(scopes.size());
  key += ':';
  for (const std::string_view one : scopes)
    append_length_prefixed(key, one);
  return key;
}

} // namespace regcache::registry

// Scopes of the distribution token spec (docs/spec/auth/scope.md): "repository:<name>:<actions>",
// several in one string separated by spaces, as in a challenge's scope parameter.
#pragma once

#include <string>
#include <string_view>

namespace regcache::registry {

inline constexpr std::string_view kRepositoryScopePrefix = "repository:";

// "repository:<name>:pull".
std::string repository_pull_scope(std::string_view name);

// Inserts "<prefix>/" before the name of every "repository:" scope, leaving other resource types
// as they are: with prefix "hub", "repository:library/nginx:pull" becomes
// "repository:hub/library/nginx:pull" (an ACR cache rule whose target is "hub/*"). Scopes in the
// result are separated by single spaces. A trailing '/' on the prefix is ignored; an empty
// prefix returns the scopes unchanged apart from spacing.
std::string add_prefix_to_scope(std::string_view scope, std::string_view prefix);

// A key for a token cache. Scopes are sorted and duplicates dropped, so "a b" and "b a" share a
// token; the fields are length-prefixed, so no choice of text makes two different triples
// collide. credential_id names the credential (account, identity), never the secret itself.
std::string token_cache_key(std::string_view upstream, std::string_view scope,
                            std::string_view credential_id);

} // namespace regcache::registry

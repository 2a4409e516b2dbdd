#pragma once
// Looking up upstream credentials, and the one spelling of the host they are stored under.
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "registry/config/upstream_config.h"

namespace regcache::registry {

// The key credentials for `host` are stored under: host or host:port (an IPv6 literal in
// brackets), lowercase, the port dropped when it is 443. Docker Hub's names (docker.io,
// index.docker.io, registry-1.docker.io) become auth.docker.io, the host that receives them
// (docker-registry-proxy's rule). Accepts what users write: a bare host, or a URL with a scheme
// and a path (Docker's config.json keys, "https://index.docker.io/v1/"). nullopt when what remains
// is not a valid host[:port]; `error` then says why without repeating anything else.
std::optional<std::string> credentials_host(std::string_view text, std::string *error);

// The credentials for `host` (host or host:port, as the request names it): an exact match first,
// then the entry for the host without its port. nullptr when there are none.
const HostCredentials *find_credentials(std::span<const HostCredentials> credentials,
                                        std::string_view host);

// "user:***", for logs: says which account is used without the secret.
std::string redact(const HostCredentials &credentials);

// Appends the entries of `lower` whose host `merged` has no entry for yet: how a layer of lower
// precedence fills in around a higher one.
void add_missing_credentials(std::vector<HostCredentials> &merged,
                             std::span<const HostCredentials> lower);

} // namespace regcache::registry

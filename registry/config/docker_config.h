#pragma once
// Credentials from a Docker config.json (--docker-config FILE, REGCACHE_DOCKER_CONFIG): its
// "auths" map. Read only when named: ~/.docker/config.json is never read implicitly.
#include <string>
#include <string_view>
#include <vector>

#include "registry/config/upstream_config.h"

namespace regcache::registry {

// Reads `path` and appends one HostCredentials per "auths" entry that has inline credentials:
// {"auth": base64("user:password")} (split at the first ':'), or {"username", "password"}.
// "auth" is what `docker login` writes: Go's base64.StdEncoding (RFC 4648 section 4, with '='
// padding). It is decoded with base64_decode, which also takes it without padding but refuses
// padding that does not complete the last group, non-zero unused bits and any character outside
// the alphabet (line breaks included, which Docker's decoder skips).
// Keys are normalized with credentials_host ("https://index.docker.io/v1/" -> auth.docker.io);
// when two keys land on the same host the first is kept and a warning says so. Entries without
// credentials (what `docker login` leaves next to a credsStore), "credsStore", "credHelpers" and
// "identitytoken" are not used, and a warning names them. Errors name the file and key and
// never contain a secret.
bool load_docker_config(const std::string &path, std::vector<HostCredentials> &credentials,
                        std::vector<std::string> &warnings, std::string *error);

// The same for text already read; `origin` stands for the file in messages.
bool parse_docker_config(std::string_view origin, std::string_view json,
                         std::vector<HostCredentials> &credentials,
                         std::vector<std::string> &warnings, std::string *error);

} // namespace regcache::registry

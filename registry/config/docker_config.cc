#include "registry/config/docker_config.h"

#include <simdjson.h>

#include <algorithm>
#include <optional>

#include "registry/api/base64.h"
#include "registry/config/config_json.h"
#include "registry/config/credentials.h"

namespace regcache::registry {

namespace {

namespace dom = simdjson::dom;

std::string join_names(const std::vector<std::string> &names) {
  std::string text;
  for (const std::string &name : names) {
    if (!text.empty())
      text.append(", ");
    text.append(name);
  }
  return text;
}

class DockerConfigReader {
public:
  DockerConfigReader(std::string_view origin, std::vector<HostCredentials> &credentials,
                     std::vector<std::string> &warnings, std::string *error)
      : origin_(origin), credentials_(credentials), warnings_(warnings), error_(error) {}

  bool read(dom::object object) {
    // Other top-level keys (HttpHeaders, proxies, psFormat, ...) are not about credentials.
    std::vector<std::string> helpers;
    for (dom::key_value_pair field : object) {
      if (field.key == "auths") {
        if (!read_auths(field.value))
          return false;
      } else if (field.key == "credsStore" || field.key == "credHelpers") {
        helpers.emplace_back(field.key);
      }
    }
    if (!helpers.empty() || !without_credentials_.empty()) {
      std::string warning = std::string(origin_) + ": ";
      if (!helpers.empty())
        warning += join_names(helpers) + " ignored (regcache runs no credential helpers)";
      if (!without_credentials_.empty()) {
        warning += std::string(helpers.empty() ? "" : "; ") + "no inline credentials for " +
                   join_names(without_credentials_);
      }
      warnings_.push_back(std::move(warning));
    }
    return true;
  }

private:
  bool fail(std::string_view key, std::string_view problem) {
    *error_ =
        std::string(origin_) + ": key \"auths." + std::string(key) + "\": " + std::string(problem);
    return false;
  }

  bool read_auths(dom::element value) {
    dom::object auths;
    if (value.get_object().get(auths) != simdjson::SUCCESS) {
      *error_ = std::string(origin_) + ": key \"auths\": expected an object";
      return false;
    }
    for (dom::key_value_pair field : auths) {
      if (!read_entry(field.key, field.value))
        return false;
    }
    return true;
  }

  bool read_entry(std::string_view key, dom::element value) {
    dom::object entry;
    if (value.get_object().get(entry) != simdjson::SUCCESS)
      return fail(key, "expected an object");
    std::string problem;
    const std::optional<std::string> host = credentials_host(key, &problem);
    if (!host)
      return fail(key, problem);
    std::string_view auth;
    std::string_view username;
    std::string_view password;
    bool has_identity_token = false;
    for (dom::key_value_pair field : entry) {
      std::string_view *target = field.key == "auth"       ? &auth
                                 : field.key == "username" ? &username
                                 : field.key == "password" ? &password
                                                           : nullptr;
      if (field.key == "identitytoken" || field.key == "registrytoken") {
        has_identity_token = true;
        continue;
      }
      if (target == nullptr)
        continue; // "email" and other keys old Docker versions wrote
      if (field.value.get_string().get(*target) != simdjson::SUCCESS)
        return fail(std::string(key) + "." + std::string(field.key), "expected a string");
    }
    HostCredentials credentials{*host, {}, {}};
    if (!auth.empty()) {
      const std::optional<std::string> decoded = base64_decode(auth);
      if (!decoded)
        return fail(std::string(key) + ".auth", "not valid base64");
      const size_t colon = decoded->find(':');
      if (colon == std::string::npos)
        return fail(std::string(key) + ".auth", "does not decode to user:password");
      credentials.username = decoded->substr(0, colon);
      credentials.password = decoded->substr(colon + 1);
    } else {
      credentials.username = std::string(username);
      credentials.password = std::string(password);
    }
    // An identity token with an empty password is an OAuth refresh token (ACR's `az acr
    // login`), which needs a token exchange, not basic credentials.
    if (credentials.username.empty() || credentials.password.empty()) {
      without_credentials_.push_back(std::string(key) +
                                     (has_identity_token ? " (identitytoken)" : ""));
      return true;
    }
    const bool seen =
        std::any_of(credentials_.begin() + static_cast<std::ptrdiff_t>(first_), credentials_.end(),
                    [&](const HostCredentials &known) { return known.host == *host; });
    if (seen) {
      warnings_.push_back(std::string(origin_) + ": key \"auths." + std::string(key) +
                          "\": a second entry for " + *host + ", ignored");
      return true;
    }
    credentials_.push_back(std::move(credentials));
    return true;
  }

  std::string_view origin_;
  std::vector<HostCredentials> &credentials_;
  size_t first_ = credentials_.size(); // entries before this one came from elsewhere
  std::vector<std::string> &warnings_;
  std::string *error_;
  std::vector<std::string> without_credentials_;
};

} // namespace

bool parse_docker_config(std::string_view origin, std::string_view json,
                         std::vector<HostCredentials> &credentials,
                         std::vector<std::string> &warnings, std::string *error) {
  dom::parser parser;
  dom::object root;
  if (!parse_json_object(origin, json, parser, root, error))
    return false;
  DockerConfigReader reader(origin, credentials, warnings, error);
  return reader.read(root);
}

bool load_docker_config(const std::string &path, std::vector<HostCredentials> &credentials,
                        std::vector<std::string> &warnings, std::string *error) {
  std::string text;
  bool shared = false;
  if (!read_config_text(path, kConfigFileBytesMax, text, &shared, error))
    return false;
  const size_t before = credentials.size();
  if (!parse_docker_config(path, text, credentials, warnings, error))
    return false;
  if (shared && credentials.size() > before)
    warnings.push_back(path + ": holds passwords and is readable by group or others; chmod 600 it");
  return true;
}

} // namespace regcache::registry

#include "registry/config/config_file.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <utility>

#include "registry/api/name_grammar.h"
#include "registry/api/nginx_duration.h"
#include "registry/config/config.h"
#include "registry/config/config_json.h"
#include "registry/config/credentials.h"
#include "registry/config/option_table.h"
#include "registry/config/upstream_host.h"

namespace regcache::registry {

namespace {

namespace dom = simdjson::dom;

struct AcrKey {
  std::string_view key;
  std::string AcrSettings::*field;
  bool is_url;
  bool is_secret;
};

constexpr std::array<AcrKey, 9> kAcrKeys = {{
    {"tenant_id", &AcrSettings::tenant_id, false, false},
    {"client_id", &AcrSettings::client_id, false, false},
    {"client_secret", &AcrSettings::client_secret, false, true},
    {"token_file", &AcrSettings::token_file, false, false},
    {"resource", &AcrSettings::resource, true, false},
    {"imds_url", &AcrSettings::imds_url, true, false},
    {"authority_url", &AcrSettings::authority_url, true, false},
    {"exchange_url", &AcrSettings::exchange_url, true, false},
    {"token_url", &AcrSettings::token_url, true, false},
}};

// Walks the parsed document. Every failure goes through fail(), which names the file and the
// key path; no value read from the file is ever put into a message here except by the option
// parsers (whose values are never secrets).
class ConfigReader {
public:
  ConfigReader(std::string_view origin, Config &config, ConfigFileLayer &layer, std::string *error)
      : origin_(origin), config_(config), layer_(layer), error_(error) {}

  bool read(dom::object object) {
    if (!check_unique_keys(object, ""))
      return false;
    for (dom::key_value_pair field : object) {
      const std::string_view key = field.key;
      bool ok = false;
      if (key == "upstreams") {
        ok = read_upstreams(field.value);
      } else if (key == "credentials") {
        ok = read_credentials(field.value);
      } else if (key == "acr") {
        ok = read_acr(field.value, "acr", layer_.acr);
      } else if (key == "manifest_cache") {
        ok = read_manifest_cache(field.value, "manifest_cache", config_.manifest_ttl);
      } else {
        ok = read_option(key, field.value);
      }
      if (!ok)
        return false;
    }
    return true;
  }

private:
  bool fail(std::string_view path, std::string_view problem) {
    *error_ = std::string(origin_) + ": key \"" + std::string(path) + "\": " + std::string(problem);
    return false;
  }

  static std::string join(std::string_view parent, std::string_view key) {
    std::string path(parent);
    if (!path.empty())
      path.push_back('.');
    path.append(key);
    return path;
  }

  static std::string indexed(std::string_view parent, size_t index) {
    return std::string(parent) + "[" + std::to_string(index) + "]";
  }

  // simdjson keeps every occurrence of a repeated key; a repeated key is a mistake to report,
  // not one to resolve silently. Quadratic, but objects here have a handful of keys.
  bool check_unique_keys(dom::object object, std::string_view path) {
    size_t index = 0;
    for (dom::key_value_pair field : object) {
      size_t earlier = 0;
      for (dom::key_value_pair other : object) {
        if (earlier++ >= index)
          break;
        if (other.key == field.key)
          return fail(join(path, field.key), "appears twice");
      }
      ++index;
    }
    return true;
  }

  bool get_object(dom::element value, std::string_view path, dom::object &out) {
    if (value.get_object().get(out) != simdjson::SUCCESS)
      return fail(path, "expected an object");
    return check_unique_keys(out, path);
  }

  bool get_array(dom::element value, std::string_view path, dom::array &out) {
    if (value.get_array().get(out) != simdjson::SUCCESS)
      return fail(path, "expected an array");
    return true;
  }

  bool get_string(dom::element value, std::string_view path, std::string_view &out) {
    if (value.get_string().get(out) != simdjson::SUCCESS)
      return fail(path, "expected a string");
    return true;
  }

  bool get_bool(dom::element value, std::string_view path, bool &out) {
    if (value.get_bool().get(out) != simdjson::SUCCESS)
      return fail(path, "expected true or false");
    return true;
  }

  bool get_count(dom::element value, std::string_view path, uint64_t &out) {
    if (value.get_uint64().get(out) != simdjson::SUCCESS)
      return fail(path, "expected a whole number");
    return true;
  }

  bool get_duration(dom::element value, std::string_view path, uint64_t &out_ms) {
    std::string_view text;
    if (value.get_string().get(text) != simdjson::SUCCESS)
      return fail(path, "expected a duration string such as \"10m\" or \"1h\"");
    const std::optional<uint64_t> parsed = parse_nginx_duration_ms(text);
    if (!parsed) {
      return fail(path, "expected an nginx duration such as \"10m\", \"1h30m\" or \"60d\", got \"" +
                            std::string(text) + "\"");
    }
    out_ms = *parsed;
    return true;
  }

  bool read_option(std::string_view key, dom::element value) {
    const OptionSpec *spec = nullptr;
    for (const OptionSpec &candidate : option_table()) {
      if (option_file_key(candidate) == key) {
        spec = &candidate;
        break;
      }
    }
    if (spec == nullptr)
      return fail(key, "unknown key (see regcache --help)");
    switch (spec->kind) {
    case OptionValueKind::Flag: {
      bool on = false;
      if (!get_bool(value, key, on))
        return false;
      apply_option_flag(*spec, on, config_);
      return true;
    }
    case OptionValueKind::Count32:
    case OptionValueKind::Count64: {
      uint64_t count = 0;
      if (!get_count(value, key, count))
        return false;
      return apply_text(*spec, key, std::to_string(count));
    }
    case OptionValueKind::ByteSize:
    case OptionValueKind::SpaceFloor:
    case OptionValueKind::ScrubRate: {
      // "32g" as in the environment, or a plain number of bytes.
      uint64_t bytes = 0;
      if (value.get_uint64().get(bytes) == simdjson::SUCCESS)
        return apply_text(*spec, key, std::to_string(bytes));
      std::string_view text;
      if (!get_string(value, key, text))
        return false;
      return apply_text(*spec, key, text);
    }
    case OptionValueKind::Path:
    case OptionValueKind::ListenAddress:
    case OptionValueKind::Upstream:
    case OptionValueKind::AcrDomain:
    case OptionValueKind::UpstreamKind:
    case OptionValueKind::LogFormat:
    case OptionValueKind::PortList:
    case OptionValueKind::RepositoryPrefix:
    case OptionValueKind::Registries:
    case OptionValueKind::InterceptHosts:
    case OptionValueKind::ClientNetworks:
    case OptionValueKind::Clients:
    case OptionValueKind::ControlUsers:
    case OptionValueKind::NoProxy:
    case OptionValueKind::UpstreamProxy: {
      std::string_view text;
      if (!get_string(value, key, text))
        return false;
      if (!apply_text(*spec, key, text))
        return false;
      // A proxy password in the file: the file must not be readable by others.
      if (spec->kind == OptionValueKind::UpstreamProxy &&
          !config_.upstream_proxy.authorization.empty())
        layer_.has_secrets = true;
      return true;
    }
    }
    assert(false && "OptionValueKind out of range");
    return false;
  }

  bool apply_text(const OptionSpec &spec, std::string_view key, std::string_view text) {
    std::string problem;
    if (!apply_option_text(spec, text, config_, &problem))
      return fail(key, problem);
    return true;
  }

  bool read_acr(dom::element value, std::string_view path, std::vector<AcrOverride> &acr) {
    dom::object object;
    if (!get_object(value, path, object))
      return false;
    for (dom::key_value_pair field : object) {
      const std::string key_path = join(path, field.key);
      const auto known = std::find_if(kAcrKeys.begin(), kAcrKeys.end(), [&](const AcrKey &acr_key) {
        return acr_key.key == field.key;
      });
      if (known == kAcrKeys.end())
        return fail(key_path, "unknown key");
      std::string_view text;
      if (!get_string(field.value, key_path, text))
        return false;
      // exchange_url and token_url may be empty: the registry's own endpoints.
      const bool may_be_empty =
          known->field == &AcrSettings::exchange_url || known->field == &AcrSettings::token_url;
      if (known->is_url && !(text.empty() && may_be_empty) && !looks_like_http_url(text))
        return fail(key_path, "expected an http:// or https:// URL");
      if (known->is_secret && !text.empty())
        layer_.has_secrets = true;
      acr.push_back({known->field, std::string(text)});
    }
    return true;
  }

  bool read_manifest_cache(dom::element value, std::string_view path,
                           ManifestTtlSettings &settings) {
    dom::object object;
    if (!get_object(value, path, object))
      return false;
    for (dom::key_value_pair field : object) {
      const std::string key_path = join(path, field.key);
      if (field.key == "enabled") {
        if (!get_bool(field.value, key_path, settings.enabled))
          return false;
      } else if (field.key == "default_ttl") {
        if (!get_duration(field.value, key_path, settings.default_ttl_ms))
          return false;
      } else if (field.key == "tiers") {
        if (!read_tiers(field.value, key_path, settings.tiers))
          return false;
      } else {
        return fail(key_path, "unknown key");
      }
    }
    return true;
  }

  bool read_tiers(dom::element value, std::string_view path, std::vector<ManifestTtlTier> &tiers) {
    dom::array array;
    if (!get_array(value, path, array))
      return false;
    tiers.clear(); // the file's list replaces the defaults, it does not extend them
    size_t index = 0;
    for (dom::element item : array) {
      const std::string item_path = indexed(path, index++);
      dom::object object;
      if (!get_object(item, item_path, object))
        return false;
      ManifestTtlTier tier;
      bool has_ttl = false;
      for (dom::key_value_pair field : object) {
        const std::string key_path = join(item_path, field.key);
        if (field.key == "regex") {
          std::string_view regex;
          if (!get_string(field.value, key_path, regex))
            return false;
          if (!check_regex(regex, key_path))
            return false;
          tier.regex = std::string(regex);
        } else if (field.key == "ttl") {
          if (!get_duration(field.value, key_path, tier.ttl_ms))
            return false;
          has_ttl = true;
        } else {
          return fail(key_path, "unknown key");
        }
      }
      if (tier.regex.empty())
        return fail(join(item_path, "regex"), "missing or empty");
      if (!has_ttl)
        return fail(join(item_path, "ttl"), "missing");
      tier.origin = std::string(origin_) + ": " + item_path;
      tiers.push_back(std::move(tier));
    }
    return true;
  }

  // PCRE2 without options, as TtlClassifier compiles the tiers: a typo is reported here, at
  // startup, with its key.
  bool check_regex(std::string_view regex, std::string_view path) {
    int code = 0;
    PCRE2_SIZE offset = 0;
    pcre2_code *compiled = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(regex.data()), regex.size(),
                                         0, &code, &offset, nullptr);
    if (compiled != nullptr) {
      pcre2_code_free(compiled);
      return true;
    }
    std::array<PCRE2_UCHAR, 256> message{};
    pcre2_get_error_message(code, message.data(), message.size());
    return fail(path, "invalid regex at offset " + std::to_string(offset) + ": " +
                          reinterpret_cast<const char *>(message.data()));
  }

  bool add_credentials(std::string_view path, std::string host, std::string_view username,
                       std::string_view password) {
    const bool seen = std::any_of(layer_.credentials.begin(), layer_.credentials.end(),
                                  [&](const HostCredentials &known) { return known.host == host; });
    if (seen)
      return fail(path, "a second set of credentials for host " + host);
    layer_.credentials.push_back({std::move(host), std::string(username), std::string(password)});
    layer_.has_secrets = true;
    return true;
  }

  bool read_credentials(dom::element value) {
    dom::array array;
    if (!get_array(value, "credentials", array))
      return false;
    size_t index = 0;
    for (dom::element item : array) {
      const std::string item_path = indexed("credentials", index++);
      dom::object object;
      if (!get_object(item, item_path, object))
        return false;
      std::string_view host_text;
      std::string_view username;
      std::string_view password;
      for (dom::key_value_pair field : object) {
        const std::string key_path = join(item_path, field.key);
        std::string_view *target = field.key == "host"       ? &host_text
                                   : field.key == "username" ? &username
                                   : field.key == "password" ? &password
                                                             : nullptr;
        if (target == nullptr)
          return fail(key_path, "unknown key");
        if (!get_string(field.value, key_path, *target))
          return false;
      }
      std::string problem;
      const std::optional<std::string> host = credentials_host(host_text, &problem);
      if (!host)
        return fail(join(item_path, "host"), problem);
      if (username.empty() || password.empty())
        return fail(join(item_path, username.empty() ? "username" : "password"),
                    "missing or empty");
      if (!add_credentials(item_path, *host, username, password))
        return false;
    }
    return true;
  }

  bool read_upstreams(dom::element value) {
    dom::array array;
    if (!get_array(value, "upstreams", array))
      return false;
    size_t index = 0;
    for (dom::element item : array) {
      if (!read_upstream(item, indexed("upstreams", index++)))
        return false;
    }
    return true;
  }

  // Token servers that may receive the upstream's credentials: exact hosts, stored in the one
  // spelling credentials use (lowercase, :443 dropped).
  bool read_auth_hosts(dom::element value, const std::string &path, std::vector<std::string> &out) {
    dom::array array;
    if (!get_array(value, path, array))
      return false;
    size_t index = 0;
    for (dom::element item : array) {
      const std::string item_path = indexed(path, index++);
      std::string_view text;
      if (!get_string(item, item_path, text))
        return false;
      std::string problem;
      std::optional<std::string> host = credentials_host(text, &problem);
      if (!host || text.find('/') != std::string_view::npos)
        return fail(item_path, host ? "expected host or host:port, not a URL" : problem);
      out.push_back(std::move(*host));
    }
    return true;
  }

  // "any", "authenticated", or an array of user names.
  bool read_clients(dom::element value, const std::string &path, ClientPolicy &out) {
    std::string text;
    if (value.is_string()) {
      std::string_view given;
      if (!get_string(value, path, given))
        return false;
      text = std::string(given);
    } else {
      dom::array array;
      if (!get_array(value, path, array))
        return false;
      size_t index = 0;
      for (dom::element item : array) {
        std::string_view user;
        if (!get_string(item, indexed(path, index++), user))
          return false;
        if (!text.empty())
          text.push_back(',');
        text.append(user);
      }
    }
    std::string problem;
    std::optional<ClientPolicy> policy = parse_client_policy(text, &problem);
    if (!policy)
      return fail(path, problem);
    out = std::move(*policy);
    return true;
  }

  bool read_upstream(dom::element item, const std::string &path) {
    dom::object object;
    if (!get_object(item, path, object))
      return false;
    ConfigFileUpstream entry;
    entry.origin = path;
    UpstreamConfig &upstream = entry.upstream;
    std::string_view host_text;
    std::string_view url_text;
    std::string_view username;
    std::string_view password;
    bool has_url = false;
    for (dom::key_value_pair field : object) {
      const std::string key_path = join(path, field.key);
      const std::string_view key = field.key;
      bool ok = true;
      if (key == "host") {
        ok = get_string(field.value, key_path, host_text);
      } else if (key == "url") {
        ok = get_string(field.value, key_path, url_text);
        has_url = true;
      } else if (key == "kind") {
        std::string_view kind;
        ok = get_string(field.value, key_path, kind);
        if (ok && kind == "registry") {
          upstream.kind = UpstreamKind::Registry;
        } else if (ok && kind == "acr") {
          upstream.kind = UpstreamKind::Acr;
        } else if (ok) {
          return fail(key_path, "expected \"registry\" or \"acr\"");
        }
      } else if (key == "prefix") {
        std::string_view prefix;
        ok = get_string(field.value, key_path, prefix);
        if (ok && !prefix.empty() && !is_valid_repository_name(prefix)) {
          return fail(key_path, "expected repository path components without leading or "
                                "trailing '/'");
        }
        upstream.prefix = std::string(prefix);
      } else if (key == "ca_file") {
        std::string_view ca_file;
        ok = get_string(field.value, key_path, ca_file);
        upstream.ca_file = std::string(ca_file);
      } else if (key == "insecure") {
        ok = get_bool(field.value, key_path, upstream.insecure);
      } else if (key == "auth_hosts") {
        ok = read_auth_hosts(field.value, key_path, upstream.auth_hosts);
      } else if (key == "clients") {
        ok = read_clients(field.value, key_path, upstream.clients);
      } else if (key == "username") {
        ok = get_string(field.value, key_path, username);
      } else if (key == "password") {
        ok = get_string(field.value, key_path, password);
      } else if (key == "acr") {
        ok = read_acr(field.value, key_path, entry.acr);
      } else if (key == "manifest_cache") {
        // A complete policy of its own: what it leaves out takes the built-in defaults.
        ManifestTtlSettings settings;
        ok = read_manifest_cache(field.value, key_path, settings);
        upstream.manifest_ttl = std::move(settings);
      } else {
        return fail(key_path, "unknown key");
      }
      if (!ok)
        return false;
    }

    std::string problem;
    if (has_url) {
      std::optional<UpstreamUrl> url = parse_upstream_url(url_text, &problem);
      if (!url)
        return fail(join(path, "url"), problem);
      upstream.url = std::move(*url);
      upstream.host = upstream_routing_host(upstream.url);
    }
    if (!host_text.empty()) {
      std::optional<UpstreamConfig> named = upstream_for_host(host_text, &problem);
      if (!named)
        return fail(join(path, "host"), problem);
      upstream.host = std::move(named->host);
      if (!has_url)
        upstream.url = std::move(named->url);
    } else if (!has_url) {
      return fail(path, "needs \"host\" or \"url\"");
    }
    const bool seen = std::any_of(
        layer_.upstreams.begin(), layer_.upstreams.end(),
        [&](const ConfigFileUpstream &known) { return known.upstream.host == upstream.host; });
    if (seen)
      return fail(join(path, "host"), "a second upstream for host " + upstream.host);

    if (username.empty() != password.empty()) {
      return fail(join(path, username.empty() ? "username" : "password"),
                  "missing: give both username and password, or neither");
    }
    if (!username.empty()) {
      std::optional<std::string> credentials = credentials_host(upstream.host, &problem);
      assert(credentials && "an upstream's host is a valid credentials host");
      if (!add_credentials(path, std::move(*credentials), username, password))
        return false;
    }
    layer_.upstreams.push_back(std::move(entry));
    return true;
  }

  std::string_view origin_;
  Config &config_;
  ConfigFileLayer &layer_;
  std::string *error_;
};

} // namespace

bool apply_config_text(std::string_view origin, std::string_view json, Config &config,
                       ConfigFileLayer &layer, std::string *error) {
  dom::parser parser;
  dom::object root;
  if (!parse_json_object(origin, json, parser, root, error))
    return false;
  ConfigReader reader(origin, config, layer, error);
  return reader.read(root);
}

bool apply_config_file(const std::string &path, Config &config, ConfigFileLayer &layer,
                       std::string *error) {
  std::string text;
  bool shared = false;
  if (!read_config_text(path, kConfigFileBytesMax, text, &shared, error))
    return false;
  if (!apply_config_text(path, text, config, layer, error))
    return false;
  if (layer.has_secrets && shared) {
    layer.warnings.push_back(path + ": holds passwords and is readable by group or others; "
                                    "chmod 600 it");
  }
  return true;
}

} // namespace regcache::registry

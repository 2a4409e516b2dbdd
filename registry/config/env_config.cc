#include "registry/config/env_config.h"

#include <algorithm>
#include <array>
#include <cassert>

#include "registry/api/nginx_duration.h"
#include "registry/config/config.h"
#include "registry/config/credentials.h"
#include "registry/config/manifest_ttl_env.h"
#include "registry/config/option_table.h"
#include "registry/config/upstream_host.h"

namespace regcache::registry {

namespace {

// Whitespace in the environment's lists (REGISTRIES, AUTH_REGISTRIES): C's isspace set.
// docker-registry-proxy's entrypoint expands REGISTRIES and AUTH_REGISTRIES' user and password
// unquoted, so the shell dropped spaces, tabs and newlines around them, and compose files
// write these lists one entry per line (with CR too when the file has CRLF line ends).
// http::trim_ows cannot stand in: HTTP's OWS is SP and HTAB only (RFC 9110 section 5.6.3).
constexpr std::string_view kWhitespace = " \t\r\n\v\f";

std::string_view trimmed(std::string_view text) {
  const size_t begin = text.find_first_not_of(kWhitespace);
  if (begin == std::string_view::npos)
    return {};
  const size_t end = text.find_last_not_of(kWhitespace);
  return text.substr(begin, end - begin + 1);
}

// A set, non-empty variable.
std::optional<std::string_view> variable(const EnvLookup &lookup, std::string_view name) {
  std::optional<std::string_view> value = lookup(name);
  if (!value || value->empty())
    return std::nullopt;
  return value;
}

// Splits `text` at every `delimiter` (not empty); calls `each` with every part, empty ones
// included, until it returns false. Bounded by the text: every round consumes a delimiter.
template <typename Each>
bool for_each_part(std::string_view text, std::string_view delimiter, Each &&each) {
  assert(!delimiter.empty());
  while (true) {
    const size_t at = text.find(delimiter);
    if (!each(text.substr(0, at)))
      return false;
    if (at == std::string_view::npos)
      return true;
    text.remove_prefix(at + delimiter.size());
  }
}

struct AcrVariable {
  std::string_view name;
  std::string AcrSettings::*field;
  bool is_url;
};

// Applied in this order, so REGCACHE_ACR_AUTHORITY_URL wins over AZURE_AUTHORITY_HOST.
const AcrVariable kAcrVariables[] = {
    {"AZURE_TENANT_ID", &AcrSettings::tenant_id, false},
    {"AZURE_CLIENT_ID", &AcrSettings::client_id, false},
    {"AZURE_CLIENT_SECRET", &AcrSettings::client_secret, false},
    {"AZURE_FEDERATED_TOKEN_FILE", &AcrSettings::token_file, false},
    {"AZURE_AUTHORITY_HOST", &AcrSettings::authority_url, true},
    {"REGCACHE_ACR_IMDS_URL", &AcrSettings::imds_url, true},
    {"REGCACHE_ACR_AUTHORITY_URL", &AcrSettings::authority_url, true},
    {"REGCACHE_ACR_EXCHANGE_URL", &AcrSettings::exchange_url, true},
    {"REGCACHE_ACR_TOKEN_URL", &AcrSettings::token_url, true},
};

bool apply_option_variables(const EnvLookup &lookup, Config &config, std::string *error) {
  for (const OptionSpec &spec : option_table()) {
    const std::string name = option_environment_variable(spec);
    if (name.empty())
      continue;
    const std::optional<std::string_view> value = variable(lookup, name);
    if (!value)
      continue;
    if (spec.kind == OptionValueKind::Flag) {
      const std::optional<bool> on = parse_env_bool(*value);
      if (!on) {
        *error =
            name + ": expected true, false, 1, 0, yes or no, got '" + std::string(*value) + "'";
        return false;
      }
      apply_option_flag(spec, *on, config);
      continue;
    }
    std::string problem;
    if (!apply_option_text(spec, *value, config, &problem)) {
      *error = name + ": " + problem;
      return false;
    }
  }
  return true;
}

bool read_acr_variables(const EnvLookup &lookup, std::vector<AcrOverride> &acr,
                        std::string *error) {
  for (const AcrVariable &acr_variable : kAcrVariables) {
    const std::optional<std::string_view> value = variable(lookup, acr_variable.name);
    if (!value)
      continue;
    if (acr_variable.is_url && !looks_like_http_url(*value)) {
      *error = std::string(acr_variable.name) + ": expected an http:// or https:// URL, got '" +
               std::string(*value) + "'";
      return false;
    }
    std::string_view text = *value;
    // AZURE_AUTHORITY_HOST is usually written with a trailing '/', which would double the
    // slash in front of the tenant.
    while (acr_variable.is_url && text.ends_with('/'))
      text.remove_suffix(1);
    acr.push_back({acr_variable.field, std::string(text)});
  }
  return true;
}

// Variables that set an option under a name of their own, read before the REGCACHE_ ones so
// that REGCACHE_<OPTION>, the more specific name, wins when both are set.
struct AliasVariable {
  std::string_view name;
  std::string_view option;
};
constexpr std::array kAliasVariables = {
    // docker-registry-proxy's CACHE_MAX_SIZE (its entrypoint pastes it into nginx's
    // `proxy_cache_path ... max_size=`).
    AliasVariable{"CACHE_MAX_SIZE", "cache-max-size"},
    // Where proxy mode's CA lives (docker-registry-proxy keeps it in its /ca volume).
    AliasVariable{"CA_DIR", "ca-dir"},
};

bool apply_alias_variables(const EnvLookup &lookup, Config &config, std::string *error) {
  for (const AliasVariable &alias : kAliasVariables) {
    const std::optional<std::string_view> value = variable(lookup, alias.name);
    if (!value)
      continue;
    const OptionSpec *spec = find_option(alias.option);
    assert(spec != nullptr);
    std::string problem;
    if (!apply_option_text(*spec, trimmed(*value), config, &problem)) {
      *error = std::string(alias.name) + ": " + problem;
      return false;
    }
  }
  return true;
}

// The conventional names of the upstream proxy's variables: UPSTREAM_PROXY (not HTTPS_PROXY,
// which in proxy mode is what clients use to reach regcache itself, and may be set for regcache
// by the same unit file), and NO_PROXY or, when that is unset, no_proxy (Go reads them in
// that order). Read before the REGCACHE_ variables, so REGCACHE_UPSTREAM_PROXY and
// REGCACHE_NO_PROXY win when both are set.
bool apply_upstream_proxy_variables(const EnvLookup &lookup, Config &config, std::string *error) {
  struct Variable {
    std::string_view name;
    std::string_view option;
  };
  constexpr Variable kVariables[] = {
      {"UPSTREAM_PROXY", "upstream-proxy"}, {"NO_PROXY", "no-proxy"}, {"no_proxy", "no-proxy"}};
  bool no_proxy_seen = false;
  for (const Variable &proxy_variable : kVariables) {
    const std::optional<std::string_view> value = variable(lookup, proxy_variable.name);
    if (!value)
      continue;
    const bool is_no_proxy = proxy_variable.option == "no-proxy";
    if (is_no_proxy && no_proxy_seen)
      continue;
    no_proxy_seen |= is_no_proxy;
    const OptionSpec *spec = find_option(proxy_variable.option);
    assert(spec != nullptr);
    std::string problem; // masks a password: the value is never quoted whole
    if (!apply_option_text(*spec, trimmed(*value), config, &problem)) {
      *error = std::string(proxy_variable.name) + ": " + problem;
      return false;
    }
  }
  return true;
}

// docker-registry-proxy's ALLOW_PUSH; read before the REGCACHE_ variables for the same reason
// as CACHE_MAX_SIZE.
bool apply_allow_push_variable(const EnvLookup &lookup, Config &config, std::string *error) {
  const std::optional<std::string_view> value = variable(lookup, "ALLOW_PUSH");
  if (!value)
    return true;
  const std::optional<bool> on = parse_env_bool(trimmed(*value));
  if (!on) {
    *error = "ALLOW_PUSH: expected true, false, 1, 0, yes or no, got '" + std::string(*value) + "'";
    return false;
  }
  const OptionSpec *spec = find_option("allow-push");
  assert(spec != nullptr);
  apply_option_flag(*spec, *on, config);
  return true;
}

// docker-registry-proxy's timeout variables (nginx durations its entrypoint pastes into the
// `http` block), mapped onto regcache's timeouts. Where several name what one regcache timeout
// does, the longest given wins, so none cuts what another allows: regcache's idle timeout is
// both the keep-alive wait and the longest a client's send or body may stall, its upstream
// read timeout bounds every silence of the upstream. PROXY_CONNECT_CONNECT_TIMEOUT, the CONNECT
// module's own, wins over PROXY_CONNECT_TIMEOUT for tunnels.
struct TimeoutVariable {
  std::string_view name;
  uint32_t Config::*field;
  bool longest_wins; // false: replaces what an earlier variable of this table set
};
constexpr TimeoutVariable kTimeoutVariables[] = {
    {"KEEPALIVE_TIMEOUT", &Config::idle_timeout_ms, true},
    {"SEND_TIMEOUT", &Config::idle_timeout_ms, true},
    {"CLIENT_BODY_TIMEOUT", &Config::idle_timeout_ms, true},
    {"CLIENT_HEADER_TIMEOUT", &Config::header_timeout_ms, true},
    {"PROXY_READ_TIMEOUT", &Config::upstream_read_timeout_ms, true},
    {"PROXY_SEND_TIMEOUT", &Config::upstream_read_timeout_ms, true},
    {"PROXY_CONNECT_TIMEOUT", &Config::upstream_connect_timeout_ms, true},
    {"PROXY_CONNECT_TIMEOUT", &Config::tunnel_connect_timeout_ms, true},
    {"PROXY_CONNECT_CONNECT_TIMEOUT", &Config::tunnel_connect_timeout_ms, false},
    {"PROXY_CONNECT_READ_TIMEOUT", &Config::tunnel_idle_timeout_ms, true},
    {"PROXY_CONNECT_SEND_TIMEOUT", &Config::tunnel_idle_timeout_ms, true},
};

// Read before the REGCACHE_ variables, so that those, the more specific names, win.
bool apply_timeout_variables(const EnvLookup &lookup, Config &config, std::string *error) {
  std::array<uint32_t Config::*, std::size(kTimeoutVariables)> set_here{};
  size_t set_count = 0;
  for (const TimeoutVariable &timeout : kTimeoutVariables) {
    const std::optional<std::string_view> value = variable(lookup, timeout.name);
    if (!value)
      continue;
    // nginx's keepalive_timeout takes a second value (the Keep-Alive header's): the first
    // counts.
    std::string_view text = trimmed(*value);
    text = text.substr(0, text.find_first_of(kWhitespace));
    const std::optional<uint64_t> ms = parse_nginx_duration_ms(text);
    if (!ms || *ms == 0 || *ms > UINT32_MAX) {
      *error = std::string(timeout.name) +
               ": expected an nginx duration above 0 and below 49 days such as 60s, 5m or "
               "1500ms, got '" +
               std::string(*value) + "'";
      return false;
    }
    const uint32_t timeout_ms = static_cast<uint32_t>(*ms);
    const bool seen = std::find(set_here.begin(), set_here.begin() + set_count, timeout.field) !=
                      set_here.begin() + set_count;
    if (seen && timeout.longest_wins) {
      config.*timeout.field = std::max(config.*timeout.field, timeout_ms);
    } else {
      config.*timeout.field = timeout_ms;
    }
    if (!seen)
      set_here[set_count++] = timeout.field;
  }
  return true;
}

std::string ordinal_entry(size_t index) {
  return "entry " + std::to_string(index + 1);
}

} // namespace

std::optional<bool> parse_env_bool(std::string_view text) {
  if (text == "true" || text == "1" || text == "yes")
    return true;
  if (text == "false" || text == "0" || text == "no")
    return false;
  return std::nullopt;
}

bool parse_registries(std::string_view value, std::string_view origin,
                      std::vector<UpstreamConfig> &registries, std::string *error) {
  // Bounded by the text: every round consumes a host and the whitespace before it.
  while (true) {
    const size_t begin = value.find_first_not_of(kWhitespace);
    if (begin == std::string_view::npos)
      return true;
    value.remove_prefix(begin);
    const size_t end = value.find_first_of(kWhitespace);
    const std::string_view host = value.substr(0, end);
    value.remove_prefix(host.size());
    std::string problem;
    std::optional<UpstreamConfig> upstream = upstream_for_host(host, &problem);
    if (!upstream) {
      *error = std::string(origin) + ": " + problem;
      return false;
    }
    const bool seen =
        std::any_of(registries.begin(), registries.end(),
                    [&](const UpstreamConfig &known) { return known.host == upstream->host; });
    if (!seen)
      registries.push_back(std::move(*upstream));
  }
}

bool parse_auth_registries(std::string_view value, std::string_view entry_delimiter,
                           std::string_view field_delimiter,
                           std::vector<HostCredentials> &credentials,
                           std::vector<std::string> &warnings, std::string *error) {
  if (entry_delimiter.empty() || field_delimiter.empty()) {
    *error = std::string(entry_delimiter.empty() ? "AUTH_REGISTRIES_DELIMITER"
                                                 : "AUTH_REGISTRY_DELIMITER") +
             ": must not be empty";
    return false;
  }
  size_t index = 0;
  return for_each_part(value, entry_delimiter, [&](std::string_view raw_entry) {
    const size_t entry_index = index++;
    // docker-registry-proxy echoes the fields unquoted, which drops surrounding whitespace; a
    // list written one entry per line relies on it.
    const std::string_view entry = trimmed(raw_entry);
    if (entry.empty())
      return true;
    std::string_view parts[4];
    size_t field_count = 0;
    for_each_part(entry, field_delimiter, [&](std::string_view field) {
      if (field_count < 4)
        parts[field_count] = field;
      ++field_count;
      return true;
    });
    // HOST may carry a port (registry.internal:5000:user:pass): with the ':' separator and four
    // or more fields whose second is a port number, the first two fields are the host. A user
    // name is never all digits in practice, and docker-registry-proxy had no ports at all.
    std::string host_with_port;
    std::string_view fields[3] = {parts[0], parts[1], parts[2]};
    if (field_delimiter == ":" && field_count >= 4) {
      const std::string_view port = trimmed(parts[1]);
      const bool numeric =
          !port.empty() && port.size() <= 5 &&
          std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (numeric) {
        host_with_port = std::string(trimmed(parts[0])) + ":" + std::string(port);
        fields[0] = host_with_port;
        fields[1] = parts[2];
        fields[2] = parts[3];
        --field_count;
      }
    }
    // Past here nothing but the host may be quoted: a field might be a password.
    const std::string where = "AUTH_REGISTRIES " + ordinal_entry(entry_index);
    if (field_count < 3) {
      *error = where + ": expected HOST" + std::string(field_delimiter) + "USER" +
               std::string(field_delimiter) + "PASSWORD, found " + std::to_string(field_count) +
               " field" + (field_count == 1 ? "" : "s") + " (AUTH_REGISTRY_DELIMITER is '" +
               std::string(field_delimiter) + "')";
      return false;
    }
    const std::optional<std::string> host = credentials_host(trimmed(fields[0]), nullptr);
    if (!host) {
      *error = where + ": the first field is not a host name or host:port";
      return false;
    }
    const std::string_view user = trimmed(fields[1]);
    const std::string_view password = trimmed(fields[2]);
    if (user.empty() || password.empty()) {
      *error = where + " (host " + *host + "): empty " + (user.empty() ? "user" : "password");
      return false;
    }
    if (field_count > 3) {
      warnings.push_back(where + " (host " + *host + "): " + std::to_string(field_count) +
                         " fields; as docker-registry-proxy does, only the first three count and "
                         "the password ends at the second '" +
                         std::string(field_delimiter) +
                         "' after the host. If it contains that separator, set "
                         "AUTH_REGISTRY_DELIMITER to another one (e.g. \":::\")");
    }
    const bool seen =
        std::any_of(credentials.begin(), credentials.end(),
                    [&](const HostCredentials &known) { return known.host == *host; });
    if (seen) {
      *error = where + ": a second entry for host " + *host;
      return false;
    }
    credentials.push_back({*host, std::string(user), std::string(password)});
    return true;
  });
}

bool apply_manifest_ttl_environment(const EnvLookup &lookup, ManifestTtlSettings &settings,
                                    std::string *error) {
  // load_manifest_ttl_env fills every unset variable with docker-registry-proxy's default, so
  // called unconditionally it would replace the config file's "manifest_cache" with those
  // defaults. When none of the six variables is set the environment says nothing, and the
  // lower layers stand.
  constexpr std::array kVariables = {kEnableManifestCacheVariable, kPrimaryRegexVariable,
                                     kPrimaryTimeVariable,         kSecondaryRegexVariable,
                                     kSecondaryTimeVariable,       kDefaultTimeVariable};
  const bool any_set = std::any_of(kVariables.begin(), kVariables.end(),
                                   [&](std::string_view name) { return lookup(name).has_value(); });
  if (!any_set)
    return true;
  return load_manifest_ttl_env(lookup, settings, error);
}

bool apply_environment(const EnvLookup &lookup, Config &config, EnvLayer &layer,
                       std::string *error) {
  if (!apply_alias_variables(lookup, config, error))
    return false;
  if (!apply_upstream_proxy_variables(lookup, config, error))
    return false;
  if (!apply_allow_push_variable(lookup, config, error))
    return false;
  if (!apply_timeout_variables(lookup, config, error))
    return false;
  if (!apply_option_variables(lookup, config, error))
    return false;
  if (!apply_manifest_ttl_environment(lookup, config.manifest_ttl, error))
    return false;
  if (const std::optional<std::string_view> registries = variable(lookup, "REGISTRIES")) {
    if (!parse_registries(*registries, "REGISTRIES", layer.registries, error))
      return false;
  }
  if (const std::optional<std::string_view> auth = variable(lookup, "AUTH_REGISTRIES")) {
    // Unset or empty: the defaults, as the entrypoint's ${AUTH_REGISTRIES_DELIMITER:-" "}.
    const std::string_view entry_delimiter =
        variable(lookup, "AUTH_REGISTRIES_DELIMITER").value_or(" ");
    const std::string_view field_delimiter =
        variable(lookup, "AUTH_REGISTRY_DELIMITER").value_or(":");
    if (!parse_auth_registries(*auth, entry_delimiter, field_delimiter, layer.credentials,
                               layer.warnings, error)) {
      return false;
    }
  }
  return read_acr_variables(lookup, layer.acr, error);
}

} // namespace regcache::registry

#include "registry/config/manifest_ttl_env.h"

#include <vector>

#include "registry/api/nginx_duration.h"
#include "registry/api/ttl_classifier.h"

namespace regcache::registry {
namespace {

// The value, or `fallback` when the variable is unset: docker-registry-proxy's Dockerfile ENV
// defaults. A set but empty *_REGEX is meaningful there (it omits the tier), so it is kept.
std::string value_or(const EnvLookup &env, std::string_view variable, std::string_view fallback) {
  const std::optional<std::string_view> value = env(variable);
  return std::string(value ? *value : fallback);
}

// The same, with an empty value counted as unset (regcache's convention for VAR=): an empty
// *_TIME made nginx refuse `proxy_cache_valid ;`, so no working deployment depends on it.
std::string nonempty_value_or(const EnvLookup &env, std::string_view variable,
                              std::string_view fallback) {
  const std::optional<std::string_view> value = env(variable);
  return std::string(value && !value->empty() ? *value : fallback);
}

bool is_nginx_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string_view trim_nginx_space(std::string_view text) {
  while (!text.empty() && is_nginx_space(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && is_nginx_space(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

void set_error(std::string *error, std::string_view variable, std::string_view value,
               std::string_view reason) {
  if (error != nullptr) {
    *error = std::string(variable) + "=" + std::string(value) + ": " + std::string(reason);
  }
}

// docker-registry-proxy pastes the regex, unquoted, into `location ~ ^/v2/(.*)/manifests/<regex> {`
// (entrypoint.sh lines 117 and 126), so PCRE2 received the regex as nginx's config tokenizer
// (ngx_conf_read_token, src/core/ngx_conf_file.c) left it:
// * unescaped whitespace ended the token: trailing whitespace was dropped, and anything after
//   it made the location directive invalid (nginx refused to start), which is refused here;
// * in the token, `\\` `\"` `\'` became `\` `"` `'`, and `\t` `\r` `\n` became the control
//   characters (the same for PCRE2 as the escapes); every other `\x` pair stayed as it was.
// An unescaped `;` or `{` also ended the token, leaving a config nginx could not load, so no
// working deployment has one; here they reach PCRE2 as written (`{` as a quantifier).
std::optional<std::string> regex_as_nginx_read_it(std::string_view value) {
  std::string regex;
  regex.reserve(value.size());
  size_t at = 0;
  while (at < value.size()) {
    const char c = value[at];
    if (c == '\\' && at + 1 < value.size()) {
      const char escaped = value[at + 1];
      switch (escaped) {
      case '\\':
      case '"':
      case '\'':
        regex.push_back(escaped);
        break;
      case 't':
        regex.push_back('\t');
        break;
      case 'r':
        regex.push_back('\r');
        break;
      case 'n':
        regex.push_back('\n');
        break;
      default:
        regex.push_back('\\');
        regex.push_back(escaped);
        break;
      }
      at += 2;
      continue;
    }
    if (is_nginx_space(c)) {
      if (!trim_nginx_space(value.substr(at)).empty()) {
        return std::nullopt;
      }
      break;
    }
    regex.push_back(c);
    ++at;
  }
  return regex;
}

// A tier for one REGEX/TIME pair, or nothing when the regex is empty. False on a bad value.
bool read_tier(const EnvLookup &env, std::string_view regex_variable,
               std::string_view regex_default, std::string_view time_variable,
               std::string_view time_default, std::vector<ManifestTtlTier> &tiers,
               std::string *error) {
  const std::string regex_value = value_or(env, regex_variable, regex_default);
  // `[[ "a${..._REGEX}" != "a" ]]` (entrypoint.sh lines 115 and 124): only the empty string
  // omits the tier; a value of spaces keeps it, and nginx then read an empty fragment.
  if (regex_value.empty()) {
    return true;
  }
  const std::optional<std::string> regex = regex_as_nginx_read_it(regex_value);
  if (!regex) {
    set_error(error, regex_variable, regex_value,
              "whitespace inside the regex (docker-registry-proxy's nginx could not load it)");
    return false;
  }
  const std::string time_value = nonempty_value_or(env, time_variable, time_default);
  // nginx skips whitespace around `proxy_cache_valid`'s argument.
  const std::optional<uint64_t> ttl_ms = parse_nginx_duration_ms(trim_nginx_space(time_value));
  if (!ttl_ms) {
    set_error(error, time_variable, time_value, "not an nginx duration");
    return false;
  }
  tiers.push_back(ManifestTtlTier{*regex, *ttl_ms, std::string(regex_variable)});
  return true;
}

} // namespace

bool load_manifest_ttl_env(const EnvLookup &env, ManifestTtlSettings &settings,
                           std::string *error) {
  ManifestTtlSettings loaded = settings;
  // docker-registry-proxy tests `[[ "a${ENABLE_MANIFEST_CACHE}" == "atrue" ]]` (entrypoint.sh
  // lines 115, 124, 133, 142), so only the exact text "true" enables and its Dockerfile default
  // is "false". regcache's own default is enabled (ManifestTtlSettings): an unset variable
  // says nothing about the user's intent and keeps it, while a set one carries a
  // docker-registry-proxy configuration and means what it meant there.
  if (const std::optional<std::string_view> enable = env(kEnableManifestCacheVariable)) {
    loaded.enabled = *enable == "true";
  }
  if (!loaded.enabled) {
    settings.enabled = false;
    return true;
  }

  loaded.tiers.clear();
  if (!read_tier(env, kPrimaryRegexVariable, kPrimaryRegexDefault, kPrimaryTimeVariable,
                 kPrimaryTimeDefault, loaded.tiers, error) ||
      !read_tier(env, kSecondaryRegexVariable, kSecondaryRegexDefault, kSecondaryTimeVariable,
                 kSecondaryTimeDefault, loaded.tiers, error)) {
    return false;
  }
  const std::string default_time =
      nonempty_value_or(env, kDefaultTimeVariable, kDefaultTimeDefault);
  const std::optional<uint64_t> default_ttl_ms =
      parse_nginx_duration_ms(trim_nginx_space(default_time));
  if (!default_ttl_ms) {
    set_error(error, kDefaultTimeVariable, default_time, "not an nginx duration");
    return false;
  }
  loaded.default_ttl_ms = *default_ttl_ms;

  // A regex PCRE2 cannot compile fails here, at load time, with its variable's name (the
  // tier's origin), rather than later when the classifier is built.
  std::string compile_error;
  if (TtlClassifier::compile(loaded, &compile_error, TtlClassifier::JitMode::Off) == nullptr) {
    if (error != nullptr) {
      *error = std::move(compile_error);
    }
    return false;
  }
  settings = std::move(loaded);
  return true;
}

} // namespace regcache::registry

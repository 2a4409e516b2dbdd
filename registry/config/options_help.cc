// --help: the text is generated from the same option table parse_options uses, with the
// defaults read from a default-constructed Config, so it cannot drift from the parser.
#include <cassert>
#include <string>

#include "registry/config/config.h"
#include "registry/config/option_table.h"
#include "registry/config/options.h"

namespace regcache::registry {

namespace {

using Kind = OptionValueKind;

std::string default_text(const OptionSpec &spec, const Config &defaults) {
  if (!spec.default_text.empty())
    return std::string(spec.default_text);
  switch (spec.kind) {
  case Kind::Flag:
    return defaults.*spec.flag_field == spec.flag_sets ? "on" : "off";
  case Kind::Path:
  case Kind::ListenAddress: {
    const std::string &text = defaults.*spec.text_field;
    return text.empty() ? "none" : text;
  }
  case Kind::Upstream:
    return defaults.upstreams.front().url.url();
  case Kind::UpstreamKind:
    return defaults.upstreams.front().kind == UpstreamKind::Acr ? "acr" : "registry";
  case Kind::RepositoryPrefix:
  case Kind::AcrDomain:
    return defaults.upstreams.front().prefix.empty() ? "none" : defaults.upstreams.front().prefix;
  case Kind::Registries:
    return defaults.registries.text;
  case Kind::InterceptHosts:
    return {}; // its default_text says it
  case Kind::ClientNetworks:
    return defaults.allow_clients.text;
  case Kind::Clients:
    return "any";
  case Kind::ControlUsers:
    return {}; // its default_text says it
  case Kind::Count32:
    return std::to_string(defaults.*spec.count32_field);
  case Kind::Count64:
  case Kind::ByteSize:
    return std::to_string(defaults.*spec.count64_field);
  case Kind::LogFormat:
    return defaults.log_format == core::LogFormat::Json ? "json" : "text";
  case Kind::SpaceFloor:
  case Kind::ScrubRate:
  case Kind::UpstreamProxy:
  case Kind::NoProxy:
  case Kind::PortList:
    return {}; // their default_text says it
  }
  assert(false && "OptionValueKind out of range");
  return {};
}

// Greedy word wrap with a hanging indent; a word ending in ':' ("(default:", "[env:") stays
// with the word after it.
void append_wrapped(std::string &text, std::string_view words, size_t indent, size_t width) {
  size_t column = indent;
  bool line_empty = true;
  while (!words.empty()) { // bounded: each round removes one word
    size_t word_end = words.find(' ');
    if (word_end != std::string_view::npos && word_end > 0 && words[word_end - 1] == ':' &&
        (words.starts_with("(default:") || words.starts_with("[env:"))) {
      word_end = words.find(' ', word_end + 1);
    }
    const std::string_view word = words.substr(0, word_end);
    words.remove_prefix(word_end == std::string_view::npos ? words.size() : word_end + 1);
    if (word.empty())
      continue;
    if (!line_empty && column + 1 + word.size() > width) {
      text.append("\n").append(indent, ' ');
      column = indent;
      line_empty = true;
    }
    if (!line_empty) {
      text.push_back(' ');
      ++column;
    }
    text.append(word);
    column += word.size();
    line_empty = false;
  }
  text.append("\n");
}

constexpr std::string_view kEnvironmentHelp[][2] = {
    {"REGISTRIES", "extra registries to cache, hosts separated by spaces; clients name them with "
                   "?ns=HOST or as the first component of the image name (docker-registry-proxy)"},
    {"AUTH_REGISTRIES",
     "upstream credentials, entries HOST:USER:PASSWORD separated by spaces "
     "(docker-registry-proxy). HOST is the host receiving them: for Docker Hub auth.docker.io "
     "(docker.io and registry-1.docker.io are accepted and stored as auth.docker.io), for GitLab "
     "its main domain, for GCR user _json_key with the key's JSON as the password"},
    {"AUTH_REGISTRIES_DELIMITER", "separator between AUTH_REGISTRIES entries (default: a space; "
                                  "\";;;\" for passwords with spaces)"},
    {"AUTH_REGISTRY_DELIMITER", "separator between HOST, USER and PASSWORD (default: \":\"). As "
                                "in docker-registry-proxy the password ends at the next "
                                "separator: use \":::\" for passwords with colons"},
    {"CACHE_MAX_SIZE", "same as --cache-max-size (docker-registry-proxy; "
                       "REGCACHE_CACHE_MAX_SIZE wins when both are set)"},
    {"ALLOW_PUSH", "true or false: same as --allow-push (docker-registry-proxy; "
                   "REGCACHE_ALLOW_PUSH wins when both are set)"},
    {"ENABLE_MANIFEST_CACHE", "\"true\" enables the manifest TTL tiers below, anything else "
                              "disables them (docker-registry-proxy)"},
    {"MANIFEST_CACHE_*", "PRIMARY_REGEX, PRIMARY_TIME, SECONDARY_REGEX, SECONDARY_TIME, "
                         "DEFAULT_TIME: the tiers, as in docker-registry-proxy. When any of these "
                         "variables is set they define the whole global policy, replacing the "
                         "config file's \"manifest_cache\""},
    {"AZURE_TENANT_ID", "acr upstreams: the Entra ID tenant, for client credentials"},
    {"AZURE_CLIENT_ID", "acr upstreams: the application, or the user-assigned managed identity"},
    {"AZURE_CLIENT_SECRET", "acr upstreams: the application's secret"},
    {"AZURE_FEDERATED_TOKEN_FILE", "acr upstreams: a file holding an Entra ID token"},
    {"AZURE_AUTHORITY_HOST", "acr upstreams: the Entra ID authority (default: "
                             "https://login.microsoftonline.com)"},
    {"REGCACHE_ACR_IMDS_URL", "acr upstreams: the managed identity endpoint"},
    {"REGCACHE_ACR_AUTHORITY_URL", "acr upstreams: the Entra ID authority, before "
                                   "AZURE_AUTHORITY_HOST"},
    {"REGCACHE_ACR_EXCHANGE_URL", "acr upstreams: the token exchange (default: "
                                  "https://REGISTRY/oauth2/exchange)"},
    {"REGCACHE_ACR_TOKEN_URL", "acr upstreams: the token endpoint (default: "
                               "https://REGISTRY/oauth2/token)"},
};

constexpr std::string_view kConfigFileHelp[][2] = {
    {"\"upstreams\"", "extra registries: [{\"host\", \"url\", \"kind\", \"prefix\", \"ca_file\", "
                      "\"insecure\", \"username\", \"password\", \"acr\", \"manifest_cache\"}]; "
                      "url defaults to https://HOST, host to the url's host[:port]"},
    {"\"credentials\"", "[{\"host\", \"username\", \"password\"}], host as in AUTH_REGISTRIES"},
    {"\"acr\"", "{\"tenant_id\", \"client_id\", \"client_secret\", \"token_file\", \"resource\", "
                "\"imds_url\", \"authority_url\", \"exchange_url\", \"token_url\"} for acr "
                "upstreams; the AZURE_* variables override it, an upstream's own \"acr\" "
                "overrides both"},
    {"\"manifest_cache\"", "{\"enabled\": true, \"default_ttl\": \"1h\", \"tiers\": "
                           "[{\"regex\": \"...\", \"ttl\": \"10m\"}]}, durations in nginx "
                           "syntax; an upstream's own replaces it for that upstream"},
};

} // namespace

std::string help_text() {
  const Config defaults;
  constexpr size_t kIndent = 2;
  constexpr size_t kGap = 2;
  constexpr size_t kWidth = 80;
  auto usage_of = [](const OptionSpec &spec) {
    std::string usage("--");
    usage.append(spec.name);
    if (!spec.value_name.empty())
      usage.append(" ").append(spec.value_name);
    return usage;
  };
  size_t usage_width = std::string_view("AZURE_FEDERATED_TOKEN_FILE").size();
  for (const OptionSpec &spec : option_table())
    usage_width = std::max(usage_width, usage_of(spec).size());
  const size_t help_column = kIndent + usage_width + kGap;

  std::string text =
      "Usage: regcache [options]\n"
      "A caching pull-through proxy for container registries (OCI distribution API).\n"
      "Options take their value as --option VALUE or --option=VALUE; durations are in\n"
      "milliseconds. Each option can also be set by the environment variable shown\n"
      "with it (flags: true/false, 1/0, yes/no; empty counts as unset) or by a key of\n"
      "the config file, its name in snake_case (\"upstream_read_timeout_ms\": 60000).\n"
      "The command line wins over the environment, which wins over the config file.\n\n"
      "Options:\n";
  auto append_entry = [&](std::string_view usage, std::string_view help) {
    text.append(kIndent, ' ').append(usage);
    if (usage.size() + kIndent + kGap > help_column) {
      text.append("\n").append(help_column, ' ');
    } else {
      text.append(help_column - kIndent - usage.size(), ' ');
    }
    append_wrapped(text, help, help_column, kWidth);
  };
  for (const OptionSpec &spec : option_table()) {
    if (spec.command_line_only)
      continue;
    append_entry(usage_of(spec), std::string(spec.help) +
                                     " (default: " + default_text(spec, defaults) +
                                     ") [env: " + option_environment_variable(spec) + "]");
  }
  append_entry("-h, --help", "show this help and exit");
  append_entry("-V, --version", "show the version and exit");

  text.append("\nAliases (acr-cache-proxy's flags):\n");
  for (const OptionSpec &spec : option_table()) {
    if (spec.command_line_only)
      append_entry(usage_of(spec), spec.help);
  }
  text.append("\nOther environment variables:\n");
  for (const auto &[name, help] : kEnvironmentHelp)
    append_entry(name, help);
  text.append("\nConfig file (--config): a JSON object whose keys are the options' names in\n"
              "snake_case (\"listen\": \"0.0.0.0:3128\", \"insecure_upstream\": true), and:\n");
  for (const auto &[name, help] : kConfigFileHelp)
    append_entry(name, help);
  text.append("Keep a file holding passwords readable by regcache alone (chmod 600).\n");
  return text;
}

} // namespace regcache::registry

#include "registry/config/env_config.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "registry/config/config.h"
#include "registry/config/option_table.h"

namespace regcache::registry {
namespace {

using Variables = std::map<std::string, std::string, std::less<>>;

EnvLookup lookup_in(const Variables &variables) {
  return [&variables](std::string_view name) -> std::optional<std::string_view> {
    const auto found = variables.find(name);
    if (found == variables.end())
      return std::nullopt;
    return std::string_view(found->second);
  };
}

struct Applied {
  bool ok;
  Config config;
  EnvLayer layer;
  std::string error;
};

Applied apply(const Variables &variables) {
  Applied applied{false, {}, {}, {}};
  applied.ok =
      apply_environment(lookup_in(variables), applied.config, applied.layer, &applied.error);
  return applied;
}

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

std::vector<HostCredentials> auth_ok(std::string_view value, std::string_view entries = " ",
                                     std::string_view fields = ":") {
  std::vector<HostCredentials> credentials;
  std::vector<std::string> warnings;
  std::string error;
  EXPECT_TRUE(parse_auth_registries(value, entries, fields, credentials, warnings, &error))
      << error;
  EXPECT_TRUE(warnings.empty());
  return credentials;
}

std::string auth_error(std::string_view value, std::string_view entries = " ",
                       std::string_view fields = ":") {
  std::vector<HostCredentials> credentials;
  std::vector<std::string> warnings;
  std::string error;
  EXPECT_FALSE(parse_auth_registries(value, entries, fields, credentials, warnings, &error));
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  return error;
}

// --- REGCACHE_<OPTION> ---------------------------------------------------------------------

TEST(ApplyEnvironmentTest, EveryOptionOfTheTableHasAVariableThatIsRead) {
  // Each variable gets a value its option accepts and that differs from the default.
  size_t checked = 0;
  for (const OptionSpec &spec : option_table()) {
    const std::string name = option_environment_variable(spec);
    if (name.empty() || spec.name == "config" || spec.name == "docker-config")
      continue; // these two name files the layer does not open
    std::string value;
    switch (spec.kind) {
    case OptionValueKind::Flag:
      value = "yes";
      break;
    case OptionValueKind::Path:
      value = "/some/path";
      break;
    case OptionValueKind::ListenAddress:
      value = "10.0.0.1:99";
      break;
    case OptionValueKind::Upstream:
      value = "https://ghcr.io";
      break;
    case OptionValueKind::AcrDomain:
      value = "x.azurecr.io";
      break;
    case OptionValueKind::UpstreamKind:
      value = "acr";
      break;
    case OptionValueKind::RepositoryPrefix:
      value = "hub";
      break;
    case OptionValueKind::Registries:
      value = "configured";
      break;
    case OptionValueKind::InterceptHosts:
      value = "any";
      break;
    case OptionValueKind::ClientNetworks:
      value = "10.0.0.0/8";
      break;
    case OptionValueKind::Clients:
      value = "authenticated";
      break;
    case OptionValueKind::ControlUsers:
      value = "alice";
      break;
    case OptionValueKind::Count32:
    case OptionValueKind::Count64:
      value = std::to_string(spec.count_min + 77); // accepted, and no default
      break;
    case OptionValueKind::ByteSize:
      value = "500m";
      break;
    case OptionValueKind::SpaceFloor:
      value = "2g";
      break;
    case OptionValueKind::ScrubRate:
      value = "10m";
      break;
    case OptionValueKind::LogFormat:
      value = "json";
      break;
    case OptionValueKind::UpstreamProxy:
      value = "http://proxy.corp:3128";
      break;
    case OptionValueKind::NoProxy:
      value = "corp.example";
      break;
    case OptionValueKind::PortList:
      value = "443,5000-5999";
      break;
    }
    const Applied applied = apply({{name, value}});
    ASSERT_TRUE(applied.ok) << name << ": " << applied.error;
    const Config defaults;
    const bool changed =
        applied.config.listen_address != defaults.listen_address ||
        applied.config.upstreams[0].url != defaults.upstreams[0].url ||
        applied.config.upstreams[0].kind != defaults.upstreams[0].kind ||
        applied.config.upstreams[0].prefix != defaults.upstreams[0].prefix ||
        applied.config.cache_dir != defaults.cache_dir ||
        applied.config.ca_dir != defaults.ca_dir ||
        applied.config.leaf_certificates_max != defaults.leaf_certificates_max ||
        applied.config.drain_file != defaults.drain_file ||
        applied.config.workers != defaults.workers ||
        applied.config.insecure_upstream != defaults.insecure_upstream ||
        applied.config.upstream_ca_file != defaults.upstream_ca_file ||
        applied.config.header_timeout_ms != defaults.header_timeout_ms ||
        applied.config.idle_timeout_ms != defaults.idle_timeout_ms ||
        applied.config.upstream_connect_timeout_ms != defaults.upstream_connect_timeout_ms ||
        applied.config.upstream_read_timeout_ms != defaults.upstream_read_timeout_ms ||
        applied.config.upstream_min_bytes_per_s != defaults.upstream_min_bytes_per_s ||
        applied.config.upstream_rate_window_ms != defaults.upstream_rate_window_ms ||
        applied.config.shutdown_grace_ms != defaults.shutdown_grace_ms ||
        applied.config.connections_max != defaults.connections_max ||
        applied.config.connections_per_client_max != defaults.connections_per_client_max ||
        applied.config.upstream_connections_max != defaults.upstream_connections_max ||
        applied.config.upstream_active_max != defaults.upstream_active_max ||
        applied.config.fetches_max != defaults.fetches_max ||
        applied.config.upstream_idle_timeout_ms != defaults.upstream_idle_timeout_ms ||
        applied.config.token_cache_entries_max != defaults.token_cache_entries_max ||
        applied.config.allow_push != defaults.allow_push ||
        applied.config.pushes_max != defaults.pushes_max ||
        applied.config.manifest_bytes_max != defaults.manifest_bytes_max ||
        applied.config.manifest_memory_bytes != defaults.manifest_memory_bytes ||
        applied.config.tags_in_memory_max != defaults.tags_in_memory_max ||
        applied.config.uncached_window_bytes != defaults.uncached_window_bytes ||
        applied.config.uncached_reader_stall_ms != defaults.uncached_reader_stall_ms ||
        applied.config.cache_max_size_bytes != defaults.cache_max_size_bytes ||
        applied.config.min_free != defaults.min_free ||
        applied.config.scrub_rate != defaults.scrub_rate ||
        applied.config.access_log != defaults.access_log ||
        applied.config.log_file != defaults.log_file ||
        applied.config.log_format != defaults.log_format ||
        applied.config.upstream_check_interval_ms != defaults.upstream_check_interval_ms ||
        applied.config.metrics_listen_address != defaults.metrics_listen_address ||
        applied.config.registries.kind != defaults.registries.kind ||
        applied.config.proxy_mode != defaults.proxy_mode ||
        applied.config.intercept_hosts.kind != defaults.intercept_hosts.kind ||
        applied.config.tls_handshake_timeout_ms != defaults.tls_handshake_timeout_ms ||
        applied.config.allow_clients.everyone != defaults.allow_clients.everyone ||
        applied.config.htpasswd_file != defaults.htpasswd_file ||
        applied.config.proxy_users_file != defaults.proxy_users_file ||
        applied.config.tunnel_ports != defaults.tunnel_ports ||
        applied.config.tunnels_max != defaults.tunnels_max ||
        applied.config.tunnel_connect_timeout_ms != defaults.tunnel_connect_timeout_ms ||
        applied.config.tunnel_idle_timeout_ms != defaults.tunnel_idle_timeout_ms ||
        applied.config.tunnel_max_ms != defaults.tunnel_max_ms ||
        applied.config.upstreams[0].clients.kind != defaults.upstreams[0].clients.kind ||
        applied.config.control_users.users != defaults.control_users.users ||
        applied.config.upstream_proxy.host != defaults.upstream_proxy.host ||
        applied.config.upstream_proxy.no_proxy.text() != defaults.upstream_proxy.no_proxy.text();
    EXPECT_TRUE(changed) << name;
    ++checked;
  }
  EXPECT_EQ(checked, 56u);
}

TEST(ApplyEnvironmentTest, CaDirSetsTheProxyCaDirectory) {
  const Applied applied = apply({{"CA_DIR", "/srv/ca"}});
  ASSERT_TRUE(applied.ok) << applied.error;
  EXPECT_EQ(applied.config.ca_dir, "/srv/ca");
}

TEST(ApplyEnvironmentTest, RegcacheCaDirWinsOverCaDir) {
  const Applied applied = apply({{"CA_DIR", "/srv/ca"}, {"REGCACHE_CA_DIR", "/etc/regcache/ca"}});
  ASSERT_TRUE(applied.ok) << applied.error;
  EXPECT_EQ(applied.config.ca_dir, "/etc/regcache/ca");
}

TEST(ApplyEnvironmentTest, ABlankCaDirIsRefusedWithItsName) {
  const Applied applied = apply({{"CA_DIR", "   "}}); // empty is unset, as for every variable
  EXPECT_FALSE(applied.ok);
  EXPECT_TRUE(contains(applied.error, "CA_DIR: ")) << applied.error;
}

TEST(ApplyEnvironmentTest, DockerRegistryProxysTimeoutsSetRegcachesTimeouts) {
  const Applied applied = apply({{"CLIENT_HEADER_TIMEOUT", "15s"},
                                 {"KEEPALIVE_TIMEOUT", "75s 60s"},
                                 {"PROXY_READ_TIMEOUT", "2m"},
                                 {"PROXY_CONNECT_TIMEOUT", "3s"},
                                 {"PROXY_CONNECT_READ_TIMEOUT", "90s"}});
  ASSERT_TRUE(applied.ok) << applied.error;
  EXPECT_EQ(applied.config.header_timeout_ms, 15000u);
  EXPECT_EQ(applied.config.idle_timeout_ms, 75000u);
  EXPECT_EQ(applied.config.upstream_read_timeout_ms, 120000u);
  EXPECT_EQ(applied.config.upstream_connect_timeout_ms, 3000u);
  EXPECT_EQ(applied.config.tunnel_connect_timeout_ms, 3000u);
  EXPECT_EQ(applied.config.tunnel_idle_timeout_ms, 90000u);
}

TEST(ApplyEnvironmentTest, TimeoutsNamingOneRegcacheTimeoutTakeTheLongest) {
  const Applied applied = apply({{"KEEPALIVE_TIMEOUT", "30s"},
                                 {"SEND_TIMEOUT", "90s"},
                                 {"CLIENT_BODY_TIMEOUT", "45s"},
                                 {"PROXY_SEND_TIMEOUT", "5m"},
                                 {"PROXY_READ_TIMEOUT", "1m"},
                                 {"PROXY_CONNECT_SEND_TIMEOUT", "10m"},
                                 {"PROXY_CONNECT_READ_TIMEOUT", "1m"}});
  ASSERT_TRUE(applied.ok) << applied.error;
  EXPECT_EQ(applied.config.idle_timeout_ms, 90000u);
  EXPECT_EQ(applied.config.upstream_read_timeout_ms, 300000u);
  EXPECT_EQ(applied.config.tunnel_idle_timeout_ms, 600000u);
}

TEST(ApplyEnvironmentTest, ProxyConnectConnectTimeoutWinsForTunnels) {
  const Applied applied =
      apply({{"PROXY_CONNECT_TIMEOUT", "30s"}, {"PROXY_CONNECT_CONNECT_TIMEOUT", "2s"}});
  ASSERT_TRUE(applied.ok) << applied.error;
  EXPECT_EQ(applied.config.tunnel_connect_timeout_ms, 2000u);
  EXPECT_EQ(applied.config.upstream_connect_timeout_ms, 30000u);
}

TEST(ApplyEnvironmentTest, RegcachesOwnTimeoutWinsOverDockerRegistryProxys) {
  const Applied applied =
      apply({{"PROXY_CONNECT_READ_TIMEOUT", "90s"}, {"REGCACHE_TUNNEL_IDLE_TIMEOUT_MS", "1234"}});
  ASSERT_TRUE(applied.ok) << applied.error;
  EXPECT_EQ(applied.config.tunnel_idle_timeout_ms, 1234u);
}

TEST(ApplyEnvironmentTest, BadTimeoutIsAnErrorNamingTheVariable) {
  for (const char *bad : {"abc", "0", "-5s", "100d"}) {
    const Applied applied = apply({{"SEND_TIMEOUT", bad}});
    EXPECT_FALSE(applied.ok) << bad;
    EXPECT_TRUE(contains(applied.error, "SEND_TIMEOUT: ")) << applied.error;
    EXPECT_TRUE(contains(applied.error, std::string("'") + bad + "'")) << applied.error;
  }
}

TEST(ApplyEnvironmentTest, CacheMaxSizeIsDockerRegistryProxysVariable) {
  const Applied applied = apply({{"CACHE_MAX_SIZE", "64g"}});
  ASSERT_TRUE(applied.ok) << applied.error;
  EXPECT_EQ(applied.config.cache_max_size_bytes, uint64_t{64} << 30);
}

TEST(ApplyEnvironmentTest, RegcachesOwnCacheMaxSizeWinsOverDockerRegistryProxys) {
  const Applied applied = apply({{"CACHE_MAX_SIZE", "64g"}, {"REGCACHE_CACHE_MAX_SIZE", "1024k"}});
  ASSERT_TRUE(applied.ok) << applied.error;
  EXPECT_EQ(applied.config.cache_max_size_bytes, uint64_t{1} << 20);
}

TEST(ApplyEnvironmentTest, BadCacheMaxSizeIsAnErrorNamingTheVariable) {
  const Applied applied = apply({{"CACHE_MAX_SIZE", "32 GB"}});
  EXPECT_FALSE(applied.ok);
  EXPECT_TRUE(contains(applied.error, "CACHE_MAX_SIZE: ")) << applied.error;
  EXPECT_TRUE(contains(applied.error, "'32 GB'")) << applied.error;
}

TEST(ApplyEnvironmentTest, UpstreamProxyAndNoProxyAreReadUnderTheirUsualNames) {
  const Applied applied =
      apply({{"UPSTREAM_PROXY", "http://u:pw@proxy.corp:3128"}, {"NO_PROXY", ".corp.example"}});
  ASSERT_TRUE(applied.ok) << applied.error;
  EXPECT_EQ(applied.config.upstream_proxy.host, "proxy.corp");
  EXPECT_EQ(applied.config.upstream_proxy.port, 3128);
  EXPECT_FALSE(applied.config.upstream_proxy.authorization.empty());
  EXPECT_FALSE(applied.config.upstream_proxy.applies_to("registry.corp.example"));
  EXPECT_TRUE(applied.config.upstream_proxy.applies_to("ghcr.io"));
}

TEST(ApplyEnvironmentTest, LowercaseNoProxyCountsWhenUppercaseIsUnset) {
  const Applied lower =
      apply({{"UPSTREAM_PROXY", "http://proxy:3128"}, {"no_proxy", "internal.example"}});
  ASSERT_TRUE(lower.ok) << lower.error;
  EXPECT_FALSE(lower.config.upstream_proxy.applies_to("internal.example"));
  const Applied both = apply({{"UPSTREAM_PROXY", "http://proxy:3128"},
                              {"NO_PROXY", "upper.example"},
                              {"no_proxy", "lower.example"}});
  ASSERT_TRUE(both.ok) << both.error;
  EXPECT_FALSE(both.config.upstream_proxy.applies_to("upper.example"));
  EXPECT_TRUE(both.config.upstream_proxy.applies_to("lower.example"));
}

TEST(ApplyEnvironmentTest, RegcachesOwnUpstreamProxyVariableWins) {
  const Applied applied = apply(
      {{"UPSTREAM_PROXY", "http://a.corp:1"}, {"REGCACHE_UPSTREAM_PROXY", "http://b.corp:2"}});
  ASSERT_TRUE(applied.ok) << applied.error;
  EXPECT_EQ(applied.config.upstream_proxy.host, "b.corp");
}

TEST(ApplyEnvironmentTest, HttpsProxyVariablesAreNotReadForTheUpstreamProxy) {
  const Applied applied =
      apply({{"HTTPS_PROXY", "http://p:3128"}, {"HTTP_PROXY", "http://p:3128"}});
  ASSERT_TRUE(applied.ok) << applied.error;
  EXPECT_FALSE(applied.config.upstream_proxy.enabled());
}

TEST(ApplyEnvironmentTest, BadUpstreamProxyNamesTheVariableAndMasksThePassword) {
  const Applied applied = apply({{"UPSTREAM_PROXY", "https://u:hunter2@proxy:443"}});
  EXPECT_FALSE(applied.ok);
  EXPECT_TRUE(contains(applied.error, "UPSTREAM_PROXY: ")) << applied.error;
  EXPECT_FALSE(contains(applied.error, "hunter2")) << applied.error;
}

TEST(ApplyEnvironmentTest, DockerRegistryProxysAllowPushTurnsPushesOnAndOff) {
  EXPECT_FALSE(Config{}.allow_push);
  const Applied on = apply({{"ALLOW_PUSH", "true"}});
  ASSERT_TRUE(on.ok) << on.error;
  EXPECT_TRUE(on.config.allow_push);
  const Applied off = apply({{"ALLOW_PUSH", "false"}});
  ASSERT_TRUE(off.ok) << off.error;
  EXPECT_FALSE(off.config.allow_push);
}

TEST(ApplyEnvironmentTest, RegcachesOwnAllowPushWinsOverDockerRegistryProxys) {
  const Applied applied = apply({{"ALLOW_PUSH", "true"}, {"REGCACHE_ALLOW_PUSH", "no"}});
  ASSERT_TRUE(applied.ok) << applied.error;
  EXPECT_FALSE(applied.config.allow_push);
}

TEST(ApplyEnvironmentTest, BadAllowPushIsAnErrorNamingTheVariableAndValue) {
  const Applied applied = apply({{"ALLOW_PUSH", "maybe"}});
  EXPECT_FALSE(applied.ok);
  EXPECT_TRUE(contains(applied.error, "ALLOW_PUSH: ")) << applied.error;
  EXPECT_TRUE(contains(applied.error, "'maybe'")) << applied.error;
}

TEST(ApplyEnvironmentTest, CountVariableSetsItsField) {
  const Applied applied = apply({{"REGCACHE_UPSTREAM_READ_TIMEOUT_MS", "1500"}});
  ASSERT_TRUE(applied.ok) << applied.error;
  EXPECT_EQ(applied.config.upstream_read_timeout_ms, 1500u);
}

TEST(ApplyEnvironmentTest, NonNumericCountIsAnErrorNamingVariableAndValue) {
  const Applied applied = apply({{"REGCACHE_WORKERS", "abc"}});
  EXPECT_FALSE(applied.ok);
  EXPECT_TRUE(contains(applied.error, "REGCACHE_WORKERS")) << applied.error;
  EXPECT_TRUE(contains(applied.error, "'abc'")) << applied.error;
}

TEST(ApplyEnvironmentTest, BadListenAddressIsAnErrorNamingTheVariable) {
  const Applied applied = apply({{"REGCACHE_LISTEN", "localhost:80"}});
  EXPECT_FALSE(applied.ok);
  EXPECT_TRUE(contains(applied.error, "REGCACHE_LISTEN:")) << applied.error;
}

TEST(ApplyEnvironmentTest, FlagTakesTrueAndFalseWords) {
  EXPECT_TRUE(apply({{"REGCACHE_INSECURE_UPSTREAM", "true"}}).config.insecure_upstream);
  EXPECT_TRUE(apply({{"REGCACHE_INSECURE_UPSTREAM", "1"}}).config.insecure_upstream);
  EXPECT_FALSE(apply({{"REGCACHE_INSECURE_UPSTREAM", "no"}}).config.insecure_upstream);
}

TEST(ApplyEnvironmentTest, NegativeFlagTrueClearsItsField) {
  EXPECT_FALSE(apply({{"REGCACHE_NO_ACCESS_LOG", "yes"}}).config.access_log);
  EXPECT_TRUE(apply({{"REGCACHE_NO_ACCESS_LOG", "0"}}).config.access_log);
}

TEST(ApplyEnvironmentTest, FlagWithOtherWordIsAnError) {
  const Applied applied = apply({{"REGCACHE_INSECURE_UPSTREAM", "sure"}});
  EXPECT_FALSE(applied.ok);
  EXPECT_TRUE(contains(applied.error, "REGCACHE_INSECURE_UPSTREAM")) << applied.error;
  EXPECT_TRUE(contains(applied.error, "sure")) << applied.error;
}

TEST(ApplyEnvironmentTest, EmptyVariableCountsAsUnset) {
  const Applied applied = apply({{"REGCACHE_LISTEN", ""}, {"REGISTRIES", ""}});
  ASSERT_TRUE(applied.ok) << applied.error;
  EXPECT_EQ(applied.config.listen_address, Config{}.listen_address);
  EXPECT_TRUE(applied.layer.registries.empty());
}

TEST(ParseEnvBoolTest, AcceptsTheSixWordsOnly) {
  EXPECT_EQ(parse_env_bool("true"), true);
  EXPECT_EQ(parse_env_bool("yes"), true);
  EXPECT_EQ(parse_env_bool("1"), true);
  EXPECT_EQ(parse_env_bool("false"), false);
  EXPECT_EQ(parse_env_bool("no"), false);
  EXPECT_EQ(parse_env_bool("0"), false);
  EXPECT_EQ(parse_env_bool("on"), std::nullopt);
  EXPECT_EQ(parse_env_bool(""), std::nullopt);
}

// --- REGISTRIES ----------------------------------------------------------------------------

TEST(RegistriesTest, SpaceSeparatedHostsBecomeHttpsUpstreams) {
  const Applied applied = apply({{"REGISTRIES", "ghcr.io quay.io"}});
  ASSERT_TRUE(applied.ok) << applied.error;
  ASSERT_EQ(applied.layer.registries.size(), 2u);
  EXPECT_EQ(applied.layer.registries[0].host, "ghcr.io");
  EXPECT_EQ(applied.layer.registries[0].url, (UpstreamUrl{true, "ghcr.io", 443}));
  EXPECT_EQ(applied.layer.registries[0].kind, UpstreamKind::Registry);
  EXPECT_EQ(applied.layer.registries[1].host, "quay.io");
}

TEST(RegistriesTest, AnyWhitespaceSeparatesAndSurroundingWhitespaceIsIgnored) {
  std::vector<UpstreamConfig> registries;
  std::string error;
  ASSERT_TRUE(
      parse_registries("  k8s.gcr.io\tgcr.io\n  quay.io  ", "REGISTRIES", registries, &error));
  ASSERT_EQ(registries.size(), 3u);
  EXPECT_EQ(registries[2].host, "quay.io");
}

TEST(RegistriesTest, HostWithPortKeepsItInHostAndUrl) {
  std::vector<UpstreamConfig> registries;
  std::string error;
  ASSERT_TRUE(parse_registries("registry.local:5000", "REGISTRIES", registries, &error));
  EXPECT_EQ(registries[0].host, "registry.local:5000");
  EXPECT_EQ(registries[0].url, (UpstreamUrl{true, "registry.local", 5000}));
}

TEST(RegistriesTest, DockerHubNamesBecomeOneDockerIoUpstream) {
  std::vector<UpstreamConfig> registries;
  std::string error;
  ASSERT_TRUE(parse_registries("registry-1.docker.io docker.io", "REGISTRIES", registries, &error));
  ASSERT_EQ(registries.size(), 1u);
  EXPECT_EQ(registries[0].host, "docker.io");
  EXPECT_EQ(registries[0].url, kDockerHubUrl);
}

TEST(RegistriesTest, RepeatedHostIsKeptOnce) {
  std::vector<UpstreamConfig> registries;
  std::string error;
  ASSERT_TRUE(parse_registries("quay.io QUAY.IO quay.io", "REGISTRIES", registries, &error));
  EXPECT_EQ(registries.size(), 1u);
}

TEST(RegistriesTest, UrlInsteadOfHostIsAnErrorNamingTheVariable) {
  const Applied applied = apply({{"REGISTRIES", "https://ghcr.io"}});
  EXPECT_FALSE(applied.ok);
  EXPECT_TRUE(contains(applied.error, "REGISTRIES: ")) << applied.error;
  EXPECT_TRUE(contains(applied.error, "https://ghcr.io")) << applied.error;
}

TEST(RegistriesTest, InvalidHostIsAnError) {
  std::vector<UpstreamConfig> registries;
  std::string error;
  EXPECT_FALSE(parse_registries("ghcr.io bad_host!", "REGISTRIES", registries, &error));
  EXPECT_TRUE(contains(error, "bad_host!")) << error;
}

// --- AUTH_REGISTRIES -----------------------------------------------------------------------

TEST(AuthRegistriesTest, DefaultDelimitersSplitEntriesAtSpacesAndFieldsAtColons) {
  const std::vector<HostCredentials> credentials =
      auth_ok("quay.io:quay_user:quay_pass your.own.registry:user:password");
  ASSERT_EQ(credentials.size(), 2u);
  EXPECT_EQ(credentials[0].host, "quay.io");
  EXPECT_EQ(credentials[0].username, "quay_user");
  EXPECT_EQ(credentials[0].password, "quay_pass");
  EXPECT_EQ(credentials[1].host, "your.own.registry");
}

TEST(AuthRegistriesTest, EnvironmentDelimitersAreUsed) {
  const Applied applied = apply({{"AUTH_REGISTRIES", "a.io:::u:::p:1;;;b.io:::v:::q"},
                                 {"AUTH_REGISTRIES_DELIMITER", ";;;"},
                                 {"AUTH_REGISTRY_DELIMITER", ":::"}});
  ASSERT_TRUE(applied.ok) << applied.error;
  ASSERT_EQ(applied.layer.credentials.size(), 2u);
  EXPECT_EQ(applied.layer.credentials[0].password, "p:1");
  EXPECT_EQ(applied.layer.credentials[1].host, "b.io");
}

TEST(AuthRegistriesTest, EmptyDelimiterVariablesMeanTheDefaults) {
  const Applied applied = apply({{"AUTH_REGISTRIES", "a.io:u:p b.io:v:q"},
                                 {"AUTH_REGISTRIES_DELIMITER", ""},
                                 {"AUTH_REGISTRY_DELIMITER", ""}});
  ASSERT_TRUE(applied.ok) << applied.error;
  EXPECT_EQ(applied.layer.credentials.size(), 2u);
}

TEST(AuthRegistriesTest, GcrJsonKeyWithSpacesAndColonsWorksWithLongDelimiters) {
  const std::string key = R"({"type": "service_account", "project_id": "p",
  "private_key": "-----BEGIN PRIVATE KEY-----\nMIIE:abc\n-----END PRIVATE KEY-----\n",
  "client_email": "x@p.iam.gserviceaccount.com", "token_uri": "https://oauth2.googleapis.com/token"})";
  const std::string value = "gcr.io:::_json_key:::" + key + ";;;quay.io:::quay_user:::quay_pass";
  const std::vector<HostCredentials> credentials = auth_ok(value, ";;;", ":::");
  ASSERT_EQ(credentials.size(), 2u);
  EXPECT_EQ(credentials[0].host, "gcr.io");
  EXPECT_EQ(credentials[0].username, "_json_key");
  EXPECT_EQ(credentials[0].password, key);
  EXPECT_EQ(credentials[1].host, "quay.io");
  EXPECT_EQ(credentials[1].password, "quay_pass");
}

TEST(AuthRegistriesTest, EntriesOnSeparateLinesHaveTheirNewlinesDropped) {
  const std::vector<HostCredentials> credentials =
      auth_ok("gcr.io:::_json_key:::{\"a\": 1}\n;;;\nquay.io:::u:::p\n", ";;;", ":::");
  ASSERT_EQ(credentials.size(), 2u);
  EXPECT_EQ(credentials[0].password, "{\"a\": 1}");
  EXPECT_EQ(credentials[1].host, "quay.io");
  EXPECT_EQ(credentials[1].password, "p");
}

TEST(AuthRegistriesTest, PasswordEndsAtTheNextFieldDelimiterAsInDockerRegistryProxy) {
  std::vector<HostCredentials> credentials;
  std::vector<std::string> warnings;
  std::string error;
  ASSERT_TRUE(
      parse_auth_registries("quay.io:user:pa:ss:word", " ", ":", credentials, warnings, &error));
  ASSERT_EQ(credentials.size(), 1u);
  EXPECT_EQ(credentials[0].password, "pa");
}

TEST(AuthRegistriesTest, ExtraFieldsGiveAWarningWithoutThePassword) {
  std::vector<HostCredentials> credentials;
  std::vector<std::string> warnings;
  std::string error;
  ASSERT_TRUE(
      parse_auth_registries("quay.io:user:Pa55:Xtra9", " ", ":", credentials, warnings, &error));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_TRUE(contains(warnings[0], "quay.io")) << warnings[0];
  EXPECT_TRUE(contains(warnings[0], "AUTH_REGISTRY_DELIMITER")) << warnings[0];
  EXPECT_FALSE(contains(warnings[0], "Pa55")) << warnings[0];
  EXPECT_FALSE(contains(warnings[0], "Xtra9")) << warnings[0];
}

TEST(AuthRegistriesTest, DockerHubHostsAreStoredUnderAuthDockerIo) {
  const std::vector<HostCredentials> credentials = auth_ok("docker.io:u:p");
  ASSERT_EQ(credentials.size(), 1u);
  EXPECT_EQ(credentials[0].host, "auth.docker.io");
  EXPECT_EQ(auth_ok("registry-1.docker.io:u:p")[0].host, "auth.docker.io");
  EXPECT_EQ(auth_ok("auth.docker.io:u:p")[0].host, "auth.docker.io");
}

TEST(AuthRegistriesTest, HostIsLowercased) {
  EXPECT_EQ(auth_ok("Quay.IO:u:p")[0].host, "quay.io");
}

TEST(AuthRegistriesTest, RepeatedSpacesMakeNoEmptyEntries) {
  EXPECT_EQ(auth_ok("  a.io:u:p   b.io:v:q  ").size(), 2u);
}

TEST(AuthRegistriesTest, EntryWithTooFewFieldsIsAnErrorWithoutItsText) {
  const std::string error = auth_error("a.io:u:p b.io:OnlyS3cret");
  EXPECT_TRUE(contains(error, "AUTH_REGISTRIES entry 2")) << error;
  EXPECT_TRUE(contains(error, "2 fields")) << error;
  EXPECT_FALSE(contains(error, "OnlyS3cret")) << error;
}

TEST(AuthRegistriesTest, BadHostIsAnErrorThatContainsNoField) {
  const std::string error = auth_error("S3cretHost!:user:Passw0rd");
  EXPECT_TRUE(contains(error, "entry 1")) << error;
  EXPECT_FALSE(contains(error, "S3cretHost")) << error;
  EXPECT_FALSE(contains(error, "Passw0rd")) << error;
  EXPECT_FALSE(contains(error, "user")) << error;
}

TEST(AuthRegistriesTest, PasswordWithSpaceUnderDefaultDelimiterIsAnErrorWithoutThePassword) {
  // "pass word" splits into the entries "q.io:u:pass" and "word": the second has one field.
  const std::string error = auth_error("q.io:u:pass word");
  EXPECT_TRUE(contains(error, "entry 2")) << error;
  EXPECT_FALSE(contains(error, "word'")) << error;
  EXPECT_FALSE(contains(error, "pass")) << error;
}

TEST(AuthRegistriesTest, EmptyPasswordIsAnErrorNamingTheHost) {
  const std::string error = auth_error("quay.io:user:");
  EXPECT_TRUE(contains(error, "quay.io")) << error;
  EXPECT_TRUE(contains(error, "empty password")) << error;
}

TEST(AuthRegistriesTest, SecondEntryForAHostIsAnError) {
  const std::string error = auth_error("docker.io:u:p auth.docker.io:v:q");
  EXPECT_TRUE(contains(error, "auth.docker.io")) << error;
}

TEST(AuthRegistriesTest, EmptyDelimiterIsAnError) {
  EXPECT_TRUE(contains(auth_error("a:b:c", "", ":"), "AUTH_REGISTRIES_DELIMITER"));
  EXPECT_TRUE(contains(auth_error("a:b:c", " ", ""), "AUTH_REGISTRY_DELIMITER"));
}

// --- Azure ---------------------------------------------------------------------------------

TEST(AzureVariablesTest, BecomeAcrOverrides) {
  const Applied applied = apply({{"AZURE_TENANT_ID", "t"},
                                 {"AZURE_CLIENT_ID", "c"},
                                 {"AZURE_CLIENT_SECRET", "s"},
                                 {"AZURE_FEDERATED_TOKEN_FILE", "/token"},
                                 {"REGCACHE_ACR_IMDS_URL", "http://127.0.0.1:1/imds"},
                                 {"REGCACHE_ACR_EXCHANGE_URL", "http://127.0.0.1:2/exchange"},
                                 {"REGCACHE_ACR_TOKEN_URL", "http://127.0.0.1:3/token"}});
  ASSERT_TRUE(applied.ok) << applied.error;
  AcrSettings acr;
  apply_acr_overrides(applied.layer.acr, acr);
  EXPECT_EQ(acr.tenant_id, "t");
  EXPECT_EQ(acr.client_id, "c");
  EXPECT_EQ(acr.client_secret, "s");
  EXPECT_EQ(acr.token_file, "/token");
  EXPECT_EQ(acr.imds_url, "http://127.0.0.1:1/imds");
  EXPECT_EQ(acr.exchange_url, "http://127.0.0.1:2/exchange");
  EXPECT_EQ(acr.token_url, "http://127.0.0.1:3/token");
}

TEST(AzureVariablesTest, RegcacheAuthorityUrlBeatsAzureAuthorityHost) {
  const Applied applied = apply({{"AZURE_AUTHORITY_HOST", "https://login.chinacloudapi.cn"},
                                 {"REGCACHE_ACR_AUTHORITY_URL", "http://127.0.0.1:4"}});
  ASSERT_TRUE(applied.ok) << applied.error;
  AcrSettings acr;
  apply_acr_overrides(applied.layer.acr, acr);
  EXPECT_EQ(acr.authority_url, "http://127.0.0.1:4");
}

TEST(AzureVariablesTest, TrailingSlashOfAnEndpointIsDropped) {
  const Applied applied = apply({{"AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us/"}});
  ASSERT_TRUE(applied.ok) << applied.error;
  AcrSettings acr;
  apply_acr_overrides(applied.layer.acr, acr);
  EXPECT_EQ(acr.authority_url, "https://login.microsoftonline.us");
}

TEST(AzureVariablesTest, EndpointThatIsNotAUrlIsAnError) {
  const Applied applied = apply({{"REGCACHE_ACR_TOKEN_URL", "localhost:1"}});
  EXPECT_FALSE(applied.ok);
  EXPECT_TRUE(contains(applied.error, "REGCACHE_ACR_TOKEN_URL")) << applied.error;
}

TEST(AzureVariablesTest, UnsetVariablesLeaveTheDefaults) {
  const Applied applied = apply({});
  ASSERT_TRUE(applied.ok) << applied.error;
  EXPECT_TRUE(applied.layer.acr.empty());
}

} // namespace
} // namespace regcache::registry

namespace regcache::registry {
namespace {

TEST(AuthRegistriesPortTest, AHostWithAPortKeepsItsPortWithTheDefaultSeparator) {
  std::vector<HostCredentials> credentials;
  std::vector<std::string> warnings;
  std::string error;
  ASSERT_TRUE(parse_auth_registries("registry.internal:5000:alice:secret", " ", ":", credentials,
                                    warnings, &error))
      << error;
  ASSERT_EQ(credentials.size(), 1u);
  EXPECT_EQ(credentials[0].host, "registry.internal:5000");
  EXPECT_EQ(credentials[0].username, "alice");
  EXPECT_EQ(credentials[0].password, "secret");
  EXPECT_TRUE(warnings.empty());
}

TEST(AuthRegistriesPortTest, ANumericFirstFieldAfterAHostWithoutMoreFieldsIsAUser) {
  std::vector<HostCredentials> credentials;
  std::vector<std::string> warnings;
  std::string error;
  ASSERT_TRUE(parse_auth_registries("registry.internal:5000:secret", " ", ":", credentials,
                                    warnings, &error))
      << error;
  ASSERT_EQ(credentials.size(), 1u);
  EXPECT_EQ(credentials[0].host, "registry.internal");
  EXPECT_EQ(credentials[0].username, "5000");
}

} // namespace
} // namespace regcache::registry

#include "registry/config/config_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "registry/config/config.h"
#include "registry/config/credentials.h"

namespace regcache::registry {
namespace {

constexpr std::string_view kOrigin = "/etc/regcache.json";

struct Applied {
  bool ok;
  Config config;
  ConfigFileLayer layer;
  std::string error;
};

Applied apply(std::string_view json) {
  Applied applied{false, {}, {}, {}};
  applied.ok = apply_config_text(kOrigin, json, applied.config, applied.layer, &applied.error);
  return applied;
}

Applied apply_ok(std::string_view json) {
  Applied applied = apply(json);
  EXPECT_TRUE(applied.ok) << applied.error;
  return applied;
}

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// The error, which must name the file and `key` ("key \"upstreams[1].url\"") on one line.
std::string error_at(std::string_view json, std::string_view key) {
  const Applied applied = apply(json);
  EXPECT_FALSE(applied.ok);
  EXPECT_TRUE(applied.error.starts_with(std::string(kOrigin) + ": ")) << applied.error;
  EXPECT_TRUE(contains(applied.error, "key \"" + std::string(key) + "\"")) << applied.error;
  EXPECT_EQ(applied.error.find('\n'), std::string::npos) << applied.error;
  return applied.error;
}

class TempFile {
public:
  explicit TempFile(std::string_view content, mode_t mode = 0600) {
    path_ = testing::TempDir() + "regcache_config_XXXXXX";
    const int fd = mkstemp(path_.data());
    EXPECT_GE(fd, 0);
    EXPECT_EQ(write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    EXPECT_EQ(fchmod(fd, mode), 0);
    close(fd);
  }
  ~TempFile() { unlink(path_.c_str()); }
  TempFile(const TempFile &) = delete;
  TempFile &operator=(const TempFile &) = delete;
  const std::string &path() const { return path_; }

private:
  std::string path_;
};

// --- Option keys ---------------------------------------------------------------------------

TEST(ConfigFileOptionsTest, StringNumberAndBooleanKeysSetTheirFields) {
  const Applied applied = apply_ok(R"({"listen": "0.0.0.0:3128", "upstream_read_timeout_ms": 60001,
      "insecure_upstream": true, "no_access_log": true, "manifest_bytes_max": 18446744073709551615,
      "cache_dir": "/srv/cache", "docker_config": "/root/.docker/config.json"})");
  EXPECT_EQ(applied.config.listen_address, "0.0.0.0:3128");
  EXPECT_EQ(applied.config.upstream_read_timeout_ms, 60001u);
  EXPECT_TRUE(applied.config.insecure_upstream);
  EXPECT_FALSE(applied.config.access_log);
  EXPECT_EQ(applied.config.manifest_bytes_max, 18446744073709551615u);
  EXPECT_EQ(applied.config.cache_dir, "/srv/cache");
  EXPECT_EQ(applied.config.docker_config_file, "/root/.docker/config.json");
}

TEST(ConfigFileOptionsTest, UpstreamProxyKeysSetTheProxyAndAPasswordCountsAsASecret) {
  const Applied applied =
      apply_ok(R"({"upstream_proxy": "http://u:pw@proxy.corp:3128", "no_proxy": "10.0.0.0/8"})");
  EXPECT_EQ(applied.config.upstream_proxy.host, "proxy.corp");
  EXPECT_FALSE(applied.config.upstream_proxy.applies_to("10.1.1.1"));
  EXPECT_TRUE(applied.layer.has_secrets);
  EXPECT_FALSE(apply_ok(R"({"upstream_proxy": "http://proxy.corp:3128"})").layer.has_secrets);
}

TEST(ConfigFileOptionsTest, DiskKeysTakeSizeStringsOrByteCounts) {
  Applied applied = apply_ok(R"({"cache_max_size": "8g", "min_free": "10%", "scrub_rate": "1m"})");
  EXPECT_EQ(applied.config.cache_max_size_bytes, uint64_t{8} << 30);
  EXPECT_EQ(applied.config.min_free, (SpaceFloor{true, 10}));
  EXPECT_EQ(applied.config.scrub_rate, (ScrubRate{ScrubRate::Mode::Fixed, uint64_t{1} << 20}));
  applied = apply_ok(R"({"cache_max_size": 1048576, "min_free": 4096})");
  EXPECT_EQ(applied.config.cache_max_size_bytes, uint64_t{1} << 20);
  EXPECT_EQ(applied.config.min_free, (SpaceFloor{false, 4096}));
  EXPECT_TRUE(contains(error_at(R"({"cache_max_size": "lots"})", "cache_max_size"), "'lots'"));
}

TEST(ConfigFileOptionsTest, DefaultUpstreamKeysSetElementZero) {
  const Applied applied = apply_ok(
      R"({"upstream": "https://example.azurecr.io", "upstream_kind": "acr", "upstream_prefix": "hub"})");
  EXPECT_EQ(applied.config.upstreams[0].host, "example.azurecr.io");
  EXPECT_EQ(applied.config.upstreams[0].kind, UpstreamKind::Acr);
  EXPECT_EQ(applied.config.upstreams[0].prefix, "hub");
}

TEST(ConfigFileOptionsTest, FalseFlagClearsWhatItWouldSet) {
  EXPECT_TRUE(apply_ok(R"({"no_access_log": false})").config.access_log);
}

TEST(ConfigFileOptionsTest, EmptyObjectChangesNothing) {
  const Applied applied = apply_ok("{}");
  EXPECT_EQ(applied.config.listen_address, Config{}.listen_address);
  EXPECT_TRUE(applied.layer.upstreams.empty());
}

TEST(ConfigFileErrorsTest, UnknownKeyIsAnErrorNamingIt) {
  error_at(R"({"listen_adress": "0.0.0.0:1"})", "listen_adress");
}

TEST(ConfigFileErrorsTest, ConfigKeyIsUnknownInTheFile) {
  error_at(R"({"config": "/other.json"})", "config");
}

TEST(ConfigFileErrorsTest, StringForACountIsAnError) {
  const std::string error = error_at(R"({"workers": "4"})", "workers");
  EXPECT_TRUE(contains(error, "whole number")) << error;
}

TEST(ConfigFileErrorsTest, NegativeOrFractionalCountIsAnError) {
  error_at(R"({"workers": -1})", "workers");
  error_at(R"({"workers": 1.5})", "workers");
}

TEST(ConfigFileErrorsTest, CountBelowItsMinimumIsAnErrorWithTheOptionsWording) {
  const std::string error = error_at(R"({"connections_max": 0})", "connections_max");
  EXPECT_TRUE(contains(error, "at least 1")) << error;
}

TEST(ConfigFileErrorsTest, CountAboveUint32IsAnError) {
  error_at(R"({"idle_timeout_ms": 4294967296})", "idle_timeout_ms");
}

TEST(ConfigFileErrorsTest, NumberForAStringIsAnError) {
  error_at(R"({"listen": 3128})", "listen");
}

TEST(ConfigFileErrorsTest, StringForAFlagIsAnError) {
  error_at(R"({"insecure_upstream": "true"})", "insecure_upstream");
}

TEST(ConfigFileErrorsTest, BadOptionValueIsAnErrorQuotingIt) {
  const std::string error = error_at(R"({"upstream": "ftp://x"})", "upstream");
  EXPECT_TRUE(contains(error, "ftp://x")) << error;
}

TEST(ConfigFileErrorsTest, RepeatedKeyIsAnError) {
  const std::string error = error_at(R"({"workers": 1, "workers": 2})", "workers");
  EXPECT_TRUE(contains(error, "twice")) << error;
}

TEST(ConfigFileErrorsTest, InvalidJsonIsAnErrorNamingTheFile) {
  const Applied applied = apply(R"({"workers": 1,})");
  EXPECT_FALSE(applied.ok);
  EXPECT_TRUE(applied.error.starts_with("/etc/regcache.json: invalid JSON")) << applied.error;
}

TEST(ConfigFileErrorsTest, TopLevelArrayIsAnError) {
  const Applied applied = apply("[]");
  EXPECT_FALSE(applied.ok);
  EXPECT_TRUE(contains(applied.error, "object")) << applied.error;
}

// --- upstreams -----------------------------------------------------------------------------

TEST(ConfigFileUpstreamsTest, FullEntryIsRead) {
  const Applied applied = apply_ok(R"({"upstreams": [{"host": "ghcr.io", "url": "https://ghcr.io",
      "kind": "registry", "prefix": "mirror/x", "ca_file": "/ca.pem", "insecure": true,
      "username": "u", "password": "p"}]})");
  ASSERT_EQ(applied.layer.upstreams.size(), 1u);
  const UpstreamConfig &upstream = applied.layer.upstreams[0].upstream;
  EXPECT_EQ(upstream.host, "ghcr.io");
  EXPECT_EQ(upstream.url, (UpstreamUrl{true, "ghcr.io", 443}));
  EXPECT_EQ(upstream.kind, UpstreamKind::Registry);
  EXPECT_EQ(upstream.prefix, "mirror/x");
  EXPECT_EQ(upstream.ca_file, "/ca.pem");
  EXPECT_TRUE(upstream.insecure);
  EXPECT_EQ(applied.layer.upstreams[0].origin, "upstreams[0]");
}

TEST(ConfigFileUpstreamsTest, UrlDefaultsToHttpsHost) {
  const Applied applied = apply_ok(R"({"upstreams": [{"host": "Quay.io"}]})");
  EXPECT_EQ(applied.layer.upstreams[0].upstream.host, "quay.io");
  EXPECT_EQ(applied.layer.upstreams[0].upstream.url, (UpstreamUrl{true, "quay.io", 443}));
}

TEST(ConfigFileUpstreamsTest, HostDefaultsToTheUrlsAuthority) {
  const Applied applied = apply_ok(R"({"upstreams": [{"url": "http://127.0.0.1:5000"}]})");
  EXPECT_EQ(applied.layer.upstreams[0].upstream.host, "127.0.0.1:5000");
  EXPECT_EQ(applied.layer.upstreams[0].upstream.url, (UpstreamUrl{false, "127.0.0.1", 5000}));
}

TEST(ConfigFileUpstreamsTest, HostMayRouteToAnotherUrl) {
  const Applied applied =
      apply_ok(R"({"upstreams": [{"host": "ghcr.io", "url": "http://127.0.0.1:5000"}]})");
  EXPECT_EQ(applied.layer.upstreams[0].upstream.host, "ghcr.io");
  EXPECT_EQ(applied.layer.upstreams[0].upstream.url.port, 5000);
}

TEST(ConfigFileUpstreamsTest, DockerHubHostIsDockerIoAtRegistry1) {
  const Applied applied = apply_ok(R"({"upstreams": [{"host": "registry-1.docker.io"}]})");
  EXPECT_EQ(applied.layer.upstreams[0].upstream.host, "docker.io");
  EXPECT_EQ(applied.layer.upstreams[0].upstream.url, kDockerHubUrl);
}

TEST(ConfigFileUpstreamsTest, EntryCredentialsAreKeyedByItsHost) {
  const Applied applied = apply_ok(
      R"({"upstreams": [{"host": "ghcr.io", "username": "u", "password": "p"},
                        {"host": "docker.io", "username": "hub", "password": "h"}]})");
  ASSERT_EQ(applied.layer.credentials.size(), 2u);
  EXPECT_EQ(applied.layer.credentials[0].host, "ghcr.io");
  EXPECT_EQ(applied.layer.credentials[0].username, "u");
  EXPECT_EQ(applied.layer.credentials[1].host, "auth.docker.io");
  EXPECT_TRUE(applied.layer.has_secrets);
}

TEST(ConfigFileUpstreamsTest, AcrEntryKeepsItsAcrSettingsAsOverrides) {
  const Applied applied = apply_ok(R"({"upstreams": [{"host": "a.azurecr.io", "kind": "acr",
      "acr": {"client_id": "c", "token_url": "http://127.0.0.1:9/token"}}]})");
  const ConfigFileUpstream &entry = applied.layer.upstreams[0];
  EXPECT_EQ(entry.upstream.kind, UpstreamKind::Acr);
  AcrSettings acr;
  apply_acr_overrides(entry.acr, acr);
  EXPECT_EQ(acr.client_id, "c");
  EXPECT_EQ(acr.token_url, "http://127.0.0.1:9/token");
  EXPECT_EQ(acr.imds_url, AcrSettings{}.imds_url);
}

TEST(ConfigFileUpstreamsTest, ManifestCacheOfAnUpstreamStartsFromTheDefaults) {
  const Applied applied = apply_ok(R"({"manifest_cache": {"default_ttl": "5m"},
      "upstreams": [{"host": "private.example", "manifest_cache": {"enabled": false}}]})");
  const std::optional<ManifestTtlSettings> &own = applied.layer.upstreams[0].upstream.manifest_ttl;
  ASSERT_TRUE(own.has_value());
  EXPECT_FALSE(own->enabled);
  EXPECT_EQ(own->default_ttl_ms, ManifestTtlSettings{}.default_ttl_ms);
  EXPECT_EQ(applied.config.manifest_ttl.default_ttl_ms, 5u * 60 * 1000);
}

TEST(ConfigFileUpstreamsTest, EntryWithoutManifestCacheHasNoOverride) {
  EXPECT_FALSE(apply_ok(R"({"upstreams": [{"host": "q.io"}]})")
                   .layer.upstreams[0]
                   .upstream.manifest_ttl.has_value());
}

TEST(ConfigFileUpstreamsTest, EntryWithoutHostOrUrlIsAnError) {
  error_at(R"({"upstreams": [{"host": "q.io"}, {"kind": "acr"}]})", "upstreams[1]");
}

TEST(ConfigFileUpstreamsTest, BadUrlIsAnErrorNamingItsKey) {
  error_at(R"({"upstreams": [{"host": "q.io"}, {"host": "a.io"}, {"url": "https://x/v2/"}]})",
           "upstreams[2].url");
}

TEST(ConfigFileUpstreamsTest, BadHostIsAnErrorNamingItsKey) {
  error_at(R"({"upstreams": [{"host": "https://q.io"}]})", "upstreams[0].host");
}

TEST(ConfigFileUpstreamsTest, SecondEntryForAHostIsAnError) {
  error_at(R"({"upstreams": [{"host": "q.io"}, {"url": "https://Q.io/"}]})", "upstreams[1].host");
}

TEST(ConfigFileUpstreamsTest, UnknownKindIsAnError) {
  error_at(R"({"upstreams": [{"host": "q.io", "kind": "ecr"}]})", "upstreams[0].kind");
}

TEST(ConfigFileUpstreamsTest, BadPrefixIsAnError) {
  error_at(R"({"upstreams": [{"host": "q.io", "prefix": "Hub/"}]})", "upstreams[0].prefix");
}

TEST(ConfigFileUpstreamsTest, UsernameWithoutPasswordIsAnError) {
  error_at(R"({"upstreams": [{"host": "q.io", "username": "u"}]})", "upstreams[0].password");
}

TEST(ConfigFileUpstreamsTest, UnknownKeyInAnEntryIsAnError) {
  error_at(R"({"upstreams": [{"host": "q.io", "usrname": "u"}]})", "upstreams[0].usrname");
}

TEST(ConfigFileUpstreamsTest, UpstreamsThatIsNotAnArrayIsAnError) {
  error_at(R"({"upstreams": {"host": "q.io"}})", "upstreams");
}

TEST(ConfigFileUpstreamsTest, WrongTypedPasswordIsAnErrorThatQuotesNothing) {
  const std::string error =
      error_at(R"({"upstreams": [{"host": "q.io", "username": "u", "password": 12345678}]})",
               "upstreams[0].password");
  EXPECT_FALSE(contains(error, "12345678")) << error;
}

// --- acr -----------------------------------------------------------------------------------

TEST(ConfigFileAcrTest, TopLevelAcrIsRecordedAndMarksSecrets) {
  const Applied applied = apply_ok(R"({"acr": {"tenant_id": "t", "client_id": "c",
      "client_secret": "s", "token_file": "/f", "resource": "https://management.azure.com",
      "imds_url": "http://127.0.0.1:1/i", "authority_url": "http://127.0.0.1:2",
      "exchange_url": "", "token_url": ""}})");
  AcrSettings acr;
  apply_acr_overrides(applied.layer.acr, acr);
  EXPECT_EQ(acr.tenant_id, "t");
  EXPECT_EQ(acr.client_secret, "s");
  EXPECT_EQ(acr.token_file, "/f");
  EXPECT_EQ(acr.authority_url, "http://127.0.0.1:2");
  EXPECT_TRUE(applied.layer.has_secrets);
}

TEST(ConfigFileAcrTest, EndpointThatIsNotAUrlIsAnError) {
  error_at(R"({"acr": {"imds_url": "169.254.169.254"}})", "acr.imds_url");
}

TEST(ConfigFileAcrTest, UnknownAcrKeyIsAnError) {
  error_at(R"({"upstreams": [{"host": "a.io", "acr": {"secret": "x"}}]})",
           "upstreams[0].acr.secret");
}

// --- credentials ---------------------------------------------------------------------------

TEST(ConfigFileCredentialsTest, EntriesAreReadWithNormalizedHosts) {
  const Applied applied = apply_ok(R"({"credentials": [
      {"host": "auth.docker.io", "username": "a", "password": "b"},
      {"host": "gitlab.com", "username": "c", "password": "d"}]})");
  ASSERT_EQ(applied.layer.credentials.size(), 2u);
  EXPECT_EQ(applied.layer.credentials[0].host, "auth.docker.io");
  EXPECT_EQ(applied.layer.credentials[1].host, "gitlab.com");
  EXPECT_EQ(applied.layer.credentials[1].password, "d");
}

TEST(ConfigFileCredentialsTest, DockerIoIsStoredAsAuthDockerIo) {
  EXPECT_EQ(
      apply_ok(R"({"credentials": [{"host": "docker.io", "username": "a", "password": "b"}]})")
          .layer.credentials[0]
          .host,
      "auth.docker.io");
}

TEST(ConfigFileCredentialsTest, MissingPasswordIsAnError) {
  error_at(R"({"credentials": [{"host": "q.io", "username": "a"}]})", "credentials[0].password");
}

TEST(ConfigFileCredentialsTest, MissingHostIsAnError) {
  error_at(R"({"credentials": [{"username": "a", "password": "b"}]})", "credentials[0].host");
}

TEST(ConfigFileCredentialsTest, SameHostAsAnUpstreamEntryIsAnError) {
  error_at(R"({"upstreams": [{"host": "q.io", "username": "a", "password": "b"}],
               "credentials": [{"host": "Q.IO", "username": "c", "password": "d"}]})",
           "credentials[0]");
}

// --- manifest_cache ------------------------------------------------------------------------

TEST(ConfigFileManifestCacheTest, ShapeIsReadIntoTheSettings) {
  const Applied applied = apply_ok(R"json({"manifest_cache": {"enabled": false,
      "default_ttl": "2h", "tiers": [{"regex": "(stable|nightly)", "ttl": "10m"},
                                     {"regex": "\\d+\\.\\d+", "ttl": "60d"}]}})json");
  const ManifestTtlSettings &settings = applied.config.manifest_ttl;
  EXPECT_FALSE(settings.enabled);
  EXPECT_EQ(settings.default_ttl_ms, 2u * 3600 * 1000);
  ASSERT_EQ(settings.tiers.size(), 2u);
  EXPECT_EQ(settings.tiers[0].regex, "(stable|nightly)");
  EXPECT_EQ(settings.tiers[0].ttl_ms, 10u * 60 * 1000);
  EXPECT_EQ(settings.tiers[1].regex, "\\d+\\.\\d+");
  EXPECT_EQ(settings.tiers[1].ttl_ms, 60ull * 24 * 3600 * 1000);
  EXPECT_EQ(settings.tiers[1].origin, "/etc/regcache.json: manifest_cache.tiers[1]");
}

TEST(ConfigFileManifestCacheTest, BadDurationIsAnErrorQuotingIt) {
  const std::string error =
      error_at(R"({"manifest_cache": {"default_ttl": "1 hour"}})", "manifest_cache.default_ttl");
  EXPECT_TRUE(contains(error, "1 hour")) << error;
}

TEST(ConfigFileManifestCacheTest, NumericDurationIsAnError) {
  error_at(R"({"manifest_cache": {"default_ttl": 3600}})", "manifest_cache.default_ttl");
}

TEST(ConfigFileManifestCacheTest, InvalidRegexIsAnErrorNamingTheTier) {
  const std::string error =
      error_at(R"({"manifest_cache": {"tiers": [{"regex": "(a", "ttl": "1m"}]}})",
               "manifest_cache.tiers[0].regex");
  EXPECT_TRUE(contains(error, "offset")) << error;
}

TEST(ConfigFileManifestCacheTest, TierWithoutTtlIsAnError) {
  error_at(R"({"manifest_cache": {"tiers": [{"regex": "a"}]}})", "manifest_cache.tiers[0].ttl");
}

TEST(ConfigFileManifestCacheTest, TierWithoutRegexIsAnError) {
  error_at(R"({"manifest_cache": {"tiers": [{"ttl": "1m"}]}})", "manifest_cache.tiers[0].regex");
}

TEST(ConfigFileManifestCacheTest, UnknownKeyIsAnError) {
  error_at(R"({"manifest_cache": {"default_time": "1h"}})", "manifest_cache.default_time");
}

// --- the file itself -----------------------------------------------------------------------

TEST(ConfigFileReadTest, FileIsReadAndApplied) {
  const TempFile file(R"({"workers": 6})");
  Config config;
  ConfigFileLayer layer;
  std::string error;
  ASSERT_TRUE(apply_config_file(file.path(), config, layer, &error)) << error;
  EXPECT_EQ(config.workers, 6u);
}

TEST(ConfigFileReadTest, ErrorsNameTheFilesPath) {
  const TempFile file(R"({"workers": "x"})");
  Config config;
  ConfigFileLayer layer;
  std::string error;
  EXPECT_FALSE(apply_config_file(file.path(), config, layer, &error));
  EXPECT_TRUE(error.starts_with(file.path() + ": key \"workers\"")) << error;
}

TEST(ConfigFileReadTest, MissingFileIsAnErrorWithTheReason) {
  Config config;
  ConfigFileLayer layer;
  std::string error;
  EXPECT_FALSE(apply_config_file("/nonexistent/regcache.json", config, layer, &error));
  EXPECT_EQ(error, "/nonexistent/regcache.json: cannot open: No such file or directory");
}

TEST(ConfigFileReadTest, DirectoryIsAnError) {
  Config config;
  ConfigFileLayer layer;
  std::string error;
  EXPECT_FALSE(apply_config_file("/", config, layer, &error));
  EXPECT_EQ(error, "/: not a regular file");
}

TEST(ConfigFileReadTest, SharedFileWithPasswordsGivesAWarning) {
  const TempFile file(R"({"credentials": [{"host": "q.io", "username": "u", "password": "p"}]})",
                      0644);
  Config config;
  ConfigFileLayer layer;
  std::string error;
  ASSERT_TRUE(apply_config_file(file.path(), config, layer, &error)) << error;
  ASSERT_EQ(layer.warnings.size(), 1u);
  EXPECT_TRUE(contains(layer.warnings[0], "chmod 600")) << layer.warnings[0];
  EXPECT_FALSE(contains(layer.warnings[0], "\"p\"")) << layer.warnings[0];
}

TEST(ConfigFileReadTest, PrivateFileWithPasswordsGivesNoWarning) {
  const TempFile file(R"({"credentials": [{"host": "q.io", "username": "u", "password": "p"}]})",
                      0600);
  Config config;
  ConfigFileLayer layer;
  std::string error;
  ASSERT_TRUE(apply_config_file(file.path(), config, layer, &error)) << error;
  EXPECT_TRUE(layer.warnings.empty());
}

TEST(ConfigFileReadTest, SharedFileWithoutSecretsGivesNoWarning) {
  const TempFile file(R"({"workers": 2})", 0644);
  Config config;
  ConfigFileLayer layer;
  std::string error;
  ASSERT_TRUE(apply_config_file(file.path(), config, layer, &error)) << error;
  EXPECT_TRUE(layer.warnings.empty());
}

} // namespace
} // namespace regcache::registry

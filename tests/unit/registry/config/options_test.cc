#include "registry/config/options.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "registry/api/client_policy.h"
#include "registry/config/credentials.h"
#include "registry/config/option_table.h"

namespace regcache::registry {
namespace {

const ProcessEnvironment kUserEnvironment{false, "", "/home/user"};

using Outcome = ParsedOptions::Outcome;

ParsedOptions parse(std::initializer_list<const char *> arguments,
                    const ProcessEnvironment &environment = kUserEnvironment) {
  std::vector<const char *> argv = {"regcache"};
  argv.insert(argv.end(), arguments);
  return parse_options(argv, environment);
}

Config parse_ok(std::initializer_list<const char *> arguments) {
  const ParsedOptions parsed = parse(arguments);
  EXPECT_EQ(parsed.outcome, Outcome::Run) << parsed.message;
  return parsed.config;
}

// The error message, which must be one line naming `option` and `value`.
void expect_error(std::initializer_list<const char *> arguments, std::string_view option,
                  std::string_view value) {
  const ParsedOptions parsed = parse(arguments);
  std::string joined;
  for (const char *argument : arguments)
    joined.append(argument).append(" ");
  SCOPED_TRACE("arguments: " + joined);
  EXPECT_EQ(parsed.outcome, Outcome::Error);
  EXPECT_NE(parsed.message.find(option), std::string::npos) << parsed.message;
  EXPECT_NE(parsed.message.find(value), std::string::npos) << parsed.message;
  EXPECT_EQ(parsed.message.find('\n'), std::string::npos) << parsed.message;
}

TEST(ParseOptionsTest, NoArgumentsGiveTheDefaults) {
  const Config config = parse_ok({});
  EXPECT_EQ(config.listen_address, "127.0.0.1:3128");
  EXPECT_EQ(config.default_upstream().url, (UpstreamUrl{true, "registry-1.docker.io", 443}));
  EXPECT_EQ(config.cache_dir, "/home/user/.cache/regcache");
  EXPECT_EQ(config.workers, 1u);
  EXPECT_FALSE(config.insecure_upstream);
  EXPECT_EQ(config.upstream_ca_file, "");
  EXPECT_EQ(config.header_timeout_ms, 10000u);
  EXPECT_EQ(config.idle_timeout_ms, 60000u);
  EXPECT_EQ(config.upstream_connect_timeout_ms, 5000u);
  EXPECT_EQ(config.upstream_read_timeout_ms, 60000u);
  EXPECT_EQ(config.shutdown_grace_ms, 10000u);
  EXPECT_EQ(config.connections_max, kConnectionsMaxFromFdLimit); // sized at start
  EXPECT_EQ(config.connections_per_client_max, 0u);
  EXPECT_EQ(config.upstream_connections_max, 64u);
  EXPECT_EQ(config.upstream_active_max, 256u);
  EXPECT_EQ(config.fetches_max, 64u);
  EXPECT_EQ(config.upstream_idle_timeout_ms, 30000u);
  EXPECT_EQ(config.token_cache_entries_max, 10000u);
  EXPECT_EQ(config.manifest_bytes_max, 4u * 1024 * 1024);
  EXPECT_TRUE(config.access_log);
}

TEST(ParseOptionsTest, ListenTakesSeparateOrAttachedValue) {
  EXPECT_EQ(parse_ok({"--listen", "0.0.0.0:5000"}).listen_address, "0.0.0.0:5000");
  EXPECT_EQ(parse_ok({"--listen=0.0.0.0:5001"}).listen_address, "0.0.0.0:5001");
}

TEST(ParseOptionsTest, ListenAcceptsBracketedIpv6) {
  EXPECT_EQ(parse_ok({"--listen", "[::]:3128"}).listen_address, "[::]:3128");
}

TEST(ParseOptionsTest, UpstreamTakesUrl) {
  EXPECT_EQ(parse_ok({"--upstream", "http://localhost:5000/"}).default_upstream().url,
            (UpstreamUrl{false, "localhost", 5000}));
  EXPECT_EQ(parse_ok({"--upstream=https://ghcr.io"}).default_upstream().url,
            (UpstreamUrl{true, "ghcr.io", 443}));
}

TEST(ParseOptionsTest, CacheDirTakesPath) {
  EXPECT_EQ(parse_ok({"--cache-dir", "/srv/cache"}).cache_dir, "/srv/cache");
  EXPECT_EQ(parse_ok({"--cache-dir=/srv/other"}).cache_dir, "/srv/other");
}

TEST(ParseOptionsTest, UpstreamCaFileTakesPath) {
  EXPECT_EQ(parse_ok({"--upstream-ca-file", "/etc/ca.pem"}).upstream_ca_file, "/etc/ca.pem");
  EXPECT_EQ(parse_ok({"--upstream-ca-file=/etc/b.pem"}).upstream_ca_file, "/etc/b.pem");
}

TEST(ParseOptionsTest, WorkersTakesCount) {
  EXPECT_EQ(parse_ok({"--workers", "8"}).workers, 8u);
  EXPECT_EQ(parse_ok({"--workers=3"}).workers, 3u);
}

TEST(ParseOptionsTest, WorkersZeroMeansOnePerCoreAndIsAccepted) {
  EXPECT_EQ(parse_ok({"--workers", "0"}).workers, 0u);
}

TEST(ParseOptionsTest, TunnelDefaultsFitAnOffice) {
  const Config config = parse_ok({});
  EXPECT_FALSE(config.tunnel_ports.given); // 443 and the upstreams' ports
  EXPECT_EQ(config.tunnels_max, 1024u);
  EXPECT_EQ(config.tunnel_idle_timeout_ms, 300000u);
  EXPECT_EQ(config.tunnel_max_ms, 3600000u);
  EXPECT_EQ(config.proxy_users_file, "");
}

TEST(ParseOptionsTest, TunnelPortsTakesPortsRangesOrAny) {
  const Config config = parse_ok({"--tunnel-ports", "443,5000-5999"});
  EXPECT_TRUE(config.tunnel_ports.given);
  EXPECT_TRUE(config.tunnel_ports.contains(5500));
  EXPECT_FALSE(config.tunnel_ports.contains(22));
  EXPECT_TRUE(parse_ok({"--tunnel-ports=any"}).tunnel_ports.contains(22));
}

TEST(ParseOptionsTest, BadTunnelPortsIsAnErrorNamingTheValue) {
  expect_error({"--tunnel-ports", "443,ssh"}, "--tunnel-ports", "'ssh'");
  expect_error({"--tunnel-ports", "70000"}, "--tunnel-ports", "'70000'");
  expect_error({"--tunnels-max", "0"}, "--tunnels-max", "0");
}

TEST(ParseOptionsTest, ProxyUsersTakesAPath) {
  EXPECT_EQ(parse_ok({"--proxy-users", "/etc/regcache/proxy-users"}).proxy_users_file,
            "/etc/regcache/proxy-users");
}

TEST(ParseOptionsTest, InsecureUpstreamFlagSetsIt) {
  EXPECT_TRUE(parse_ok({"--insecure-upstream"}).insecure_upstream);
}

TEST(ParseOptionsTest, NoAccessLogFlagClearsIt) {
  EXPECT_FALSE(parse_ok({"--no-access-log"}).access_log);
}

TEST(ParseOptionsTest, EveryCountOptionSetsItsField) {
  struct Case {
    const char *name;
    uint32_t Config::*field;
  };
  const Case cases[] = {
      {"--header-timeout-ms", &Config::header_timeout_ms},
      {"--idle-timeout-ms", &Config::idle_timeout_ms},
      {"--upstream-connect-timeout-ms", &Config::upstream_connect_timeout_ms},
      {"--upstream-read-timeout-ms", &Config::upstream_read_timeout_ms},
      {"--shutdown-grace-ms", &Config::shutdown_grace_ms},
      {"--connections-max", &Config::connections_max},
      {"--connections-per-client-max", &Config::connections_per_client_max},
      {"--upstream-connections-max", &Config::upstream_connections_max},
      {"--upstream-active-max", &Config::upstream_active_max},
      {"--fetches-max", &Config::fetches_max},
      {"--upstream-idle-timeout-ms", &Config::upstream_idle_timeout_ms},
      {"--token-cache-entries-max", &Config::token_cache_entries_max},
      {"--tunnels-max", &Config::tunnels_max},
      {"--tunnel-connect-timeout-ms", &Config::tunnel_connect_timeout_ms},
      {"--tunnel-idle-timeout-ms", &Config::tunnel_idle_timeout_ms},
      {"--tunnel-max-ms", &Config::tunnel_max_ms},
  };
  for (const Case &test_case : cases) {
    EXPECT_EQ(parse_ok({test_case.name, "1234"}).*test_case.field, 1234u) << test_case.name;
    const std::string attached = std::string(test_case.name) + "=4321";
    EXPECT_EQ(parse_ok({attached.c_str()}).*test_case.field, 4321u) << test_case.name;
  }
}

TEST(ParseOptionsTest, CountOptionsAcceptUint32Max) {
  EXPECT_EQ(parse_ok({"--idle-timeout-ms", "4294967295"}).idle_timeout_ms, 4294967295u);
}

TEST(ParseOptionsTest, ManifestBytesMaxTakesSixtyFourBitCount) {
  EXPECT_EQ(parse_ok({"--manifest-bytes-max", "8388608"}).manifest_bytes_max, 8388608u);
  EXPECT_EQ(parse_ok({"--manifest-bytes-max=18446744073709551615"}).manifest_bytes_max,
            18446744073709551615u);
}

TEST(ParseOptionsTest, DiskOptionsTakeNginxSizesAndPercentages) {
  const Config config =
      parse_ok({"--cache-max-size", "500m", "--min-free", "10%", "--scrub-rate", "64k"});
  EXPECT_EQ(config.cache_max_size_bytes, uint64_t{500} << 20);
  EXPECT_EQ(config.min_free, (SpaceFloor{true, 10}));
  EXPECT_EQ(config.scrub_rate, (ScrubRate{ScrubRate::Mode::Fixed, 64 * 1024}));
  EXPECT_EQ(parse_ok({"--min-free=2g"}).min_free, (SpaceFloor{false, uint64_t{2} << 30}));
  EXPECT_EQ(parse_ok({"--scrub-rate", "off"}).scrub_rate.mode, ScrubRate::Mode::Off);
}

TEST(ParseOptionsTest, DiskOptionsDefaultTo32gFivePercentAndAWeeklyScrub) {
  const Config config = parse_ok({});
  EXPECT_EQ(config.cache_max_size_bytes, uint64_t{32} << 30);
  EXPECT_EQ(config.min_free, (SpaceFloor{true, 5}));
  EXPECT_EQ(config.scrub_rate.mode, ScrubRate::Mode::Auto);
}

TEST(ParseOptionsTest, BadDiskOptionsAreErrorsNamingOptionAndValue) {
  expect_error({"--cache-max-size", "32gb"}, "--cache-max-size", "'32gb'");
  expect_error({"--cache-max-size", "0"}, "--cache-max-size", "'0'");
  expect_error({"--min-free", "100%"}, "--min-free", "'100%'");
  expect_error({"--scrub-rate", "fast"}, "--scrub-rate", "'fast'");
  expect_error({"--scrub-rate", "0"}, "--scrub-rate", "'0'");
}

TEST(ParseOptionsTest, ZeroIsAcceptedWhereItMeansSomething) {
  EXPECT_EQ(parse_ok({"--shutdown-grace-ms", "0"}).shutdown_grace_ms, 0u);
  EXPECT_EQ(parse_ok({"--upstream-connections-max", "0"}).upstream_connections_max, 0u);
  EXPECT_EQ(parse_ok({"--connections-per-client-max", "0"}).connections_per_client_max, 0u);
}

TEST(ParseOptionsTest, LastOccurrenceWins) {
  EXPECT_EQ(parse_ok({"--workers", "2", "--workers=5"}).workers, 5u);
}

TEST(ParseOptionsTest, SeveralOptionsCombine) {
  const Config config =
      parse_ok({"--listen", "0.0.0.0:80", "--no-access-log", "--workers=4", "--cache-dir", "/c"});
  EXPECT_EQ(config.listen_address, "0.0.0.0:80");
  EXPECT_FALSE(config.access_log);
  EXPECT_EQ(config.workers, 4u);
  EXPECT_EQ(config.cache_dir, "/c");
}

TEST(ParseOptionsTest, LongHelpGivesHelpOutcomeWithHelpText) {
  const ParsedOptions parsed = parse({"--help"});
  EXPECT_EQ(parsed.outcome, Outcome::Help);
  EXPECT_EQ(parsed.message, help_text());
}

TEST(ParseOptionsTest, ShortHelpGivesHelpOutcome) {
  EXPECT_EQ(parse({"--workers", "2", "-h"}).outcome, Outcome::Help);
}

TEST(ParseOptionsTest, VersionGivesVersionLine) {
  const ParsedOptions parsed = parse({"--version"});
  EXPECT_EQ(parsed.outcome, Outcome::Version);
  EXPECT_EQ(parsed.message, "regcache " + std::string(kRegcacheVersion));
  EXPECT_EQ(parse({"-V"}).outcome, Outcome::Version);
}

TEST(ParseOptionsTest, UnknownOptionIsAnError) {
  expect_error({"--frobnicate"}, "--frobnicate", "");
}

TEST(ParseOptionsTest, UnknownOptionWithValueNamesOnlyTheOption) {
  expect_error({"--frobnicate=3"}, "--frobnicate", "");
}

TEST(ParseOptionsTest, ShortOptionOtherThanHelpAndVersionIsAnError) {
  expect_error({"-w"}, "-w", "");
}

TEST(ParseOptionsTest, PositionalArgumentIsAnError) {
  expect_error({"serve"}, "serve", "");
}

TEST(ParseOptionsTest, DoubleDashAloneIsAnError) {
  expect_error({"--"}, "--", "");
}

TEST(ParseOptionsTest, MissingValueAtEndIsAnError) {
  expect_error({"--listen"}, "--listen", "missing value");
}

TEST(ParseOptionsTest, OptionInPlaceOfValueIsAMissingValue) {
  expect_error({"--cache-dir", "--workers", "2"}, "--cache-dir", "missing value");
}

TEST(ParseOptionsTest, AttachedValueMayStartWithDashes) {
  EXPECT_EQ(parse_ok({"--cache-dir=--odd"}).cache_dir, "--odd");
}

TEST(ParseOptionsTest, FlagWithValueIsAnError) {
  expect_error({"--no-access-log=yes"}, "--no-access-log", "yes");
  expect_error({"--insecure-upstream=true"}, "--insecure-upstream", "true");
}

TEST(ParseOptionsTest, NonDigitCountIsAnError) {
  expect_error({"--workers", "abc"}, "--workers", "abc");
  expect_error({"--workers", "12abc"}, "--workers", "12abc");
  expect_error({"--workers", " 1"}, "--workers", " 1");
  expect_error({"--workers", "1.5"}, "--workers", "1.5");
  expect_error({"--workers", "0x10"}, "--workers", "0x10");
}

TEST(ParseOptionsTest, SignedCountIsAnError) {
  expect_error({"--workers=-1"}, "--workers", "-1");
  expect_error({"--workers=+1"}, "--workers", "+1");
}

TEST(ParseOptionsTest, EmptyCountIsAnError) {
  expect_error({"--connections-max="}, "--connections-max", "''");
}

TEST(ParseOptionsTest, CountAboveUint32IsAnError) {
  expect_error({"--header-timeout-ms", "4294967296"}, "--header-timeout-ms", "4294967296");
}

TEST(ParseOptionsTest, CountAboveUint64IsAnError) {
  expect_error({"--manifest-bytes-max", "18446744073709551616"}, "--manifest-bytes-max",
               "18446744073709551616");
}

TEST(ParseOptionsTest, ZeroWhereZeroIsMeaninglessIsAnError) {
  for (const char *option :
       {"--header-timeout-ms", "--idle-timeout-ms", "--upstream-connect-timeout-ms",
        "--upstream-read-timeout-ms", "--connections-max", "--manifest-bytes-max"}) {
    expect_error({option, "0"}, option, "'0'");
  }
}

TEST(ParseOptionsTest, MalformedListenAddressIsAnError) {
  for (const char *value :
       {"localhost:3128", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "::1:3128", "256.0.0.1:80",
        "[::1]", "[::1]:", "[zz]:80", ":3128", "127.0.0.1:80x"}) {
    expect_error({"--listen", value}, "--listen", value);
  }
}

TEST(ParseOptionsTest, MalformedUpstreamIsAnError) {
  expect_error({"--upstream", "ftp://x"}, "--upstream", "ftp://x");
  expect_error({"--upstream", "https://x/v2"}, "--upstream", "https://x/v2");
}

TEST(ParseOptionsTest, EmptyPathIsAnError) {
  expect_error({"--cache-dir="}, "--cache-dir", "''");
  expect_error({"--upstream-ca-file="}, "--upstream-ca-file", "''");
}

TEST(ParseOptionsTest, ProcessEnvironmentOverloadParsesArguments) {
  const std::vector<const char *> argv = {"regcache", "--cache-dir", "/x", "--workers", "2"};
  const ParsedOptions parsed = parse_options(argv);
  EXPECT_EQ(parsed.outcome, Outcome::Run);
  EXPECT_EQ(parsed.config.workers, 2u);
}

TEST(DefaultCacheDirTest, RootUsesVarCache) {
  EXPECT_EQ(default_cache_dir({true, "/x", "/root"}), "/var/cache/regcache");
}

TEST(DefaultCacheDirTest, UserWithXdgCacheHomeUsesIt) {
  EXPECT_EQ(default_cache_dir({false, "/home/u/.xdg", "/home/u"}), "/home/u/.xdg/regcache");
}

TEST(DefaultCacheDirTest, RelativeXdgCacheHomeIsIgnored) {
  EXPECT_EQ(default_cache_dir({false, "relative", "/home/u"}), "/home/u/.cache/regcache");
}

TEST(DefaultCacheDirTest, UserWithoutXdgUsesHomeCache) {
  EXPECT_EQ(default_cache_dir({false, "", "/home/u"}), "/home/u/.cache/regcache");
}

TEST(DefaultCacheDirTest, NoHomeGivesNoDefault) {
  EXPECT_EQ(default_cache_dir({false, "", ""}), "");
}

TEST(DefaultCacheDirTest, MissingDefaultWithoutCacheDirOptionIsAnError) {
  const ParsedOptions parsed = parse({}, {false, "", ""});
  EXPECT_EQ(parsed.outcome, Outcome::Error);
  EXPECT_NE(parsed.message.find("--cache-dir"), std::string::npos);
}

TEST(DefaultCacheDirTest, MissingDefaultIsFineWithCacheDirOption) {
  EXPECT_EQ(parse({"--cache-dir", "/c"}, {false, "", ""}).outcome, Outcome::Run);
}

TEST(HelpTextTest, ListsEveryOption) {
  const std::string help = help_text();
  for (std::string_view option : {"--listen ",
                                  "--upstream ",
                                  "--upstream-kind ",
                                  "--upstream-prefix ",
                                  "--cache-dir ",
                                  "--workers ",
                                  "--insecure-upstream ",
                                  "--upstream-ca-file ",
                                  "--header-timeout-ms ",
                                  "--idle-timeout-ms ",
                                  "--upstream-connect-timeout-ms ",
                                  "--upstream-read-timeout-ms ",
                                  "--shutdown-grace-ms ",
                                  "--connections-max ",
                                  "--upstream-connections-max ",
                                  "--upstream-active-max ",
                                  "--fetches-max ",
                                  "--upstream-idle-timeout-ms ",
                                  "--token-cache-entries-max ",
                                  "--manifest-bytes-max ",
                                  "--no-access-log ",
                                  "--config ",
                                  "--docker-config ",
                                  "--listen-address ",
                                  "--upstream-domain ",
                                  "--help",
                                  "--version"}) {
    EXPECT_NE(help.find(option), std::string::npos) << option;
  }
}

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    lines.push_back(text.substr(0, end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
  }
  return lines;
}

// The entries of the "Options:" section: a line starting with "  -" and its indented
// continuation lines.
std::vector<std::string> option_entries(const std::string &help) {
  std::vector<std::string> entries;
  bool in_options = false;
  for (std::string_view line : lines_of(help)) {
    if (line == "Options:") {
      in_options = true;
      continue;
    }
    if (in_options && line.empty())
      break;
    if (!in_options)
      continue;
    if (line.starts_with("  -")) {
      entries.emplace_back(line);
    } else if (!entries.empty() && line.starts_with("      ")) {
      entries.back().append(" ").append(line);
    }
  }
  return entries;
}

TEST(ParseOptionsTest, ControlUsersTakesUserNamesAndRefusesAny) {
  Config config;
  std::string error;
  ASSERT_TRUE(apply_option_text(*find_option("control-users"), "alice, bob", config, &error))
      << error;
  EXPECT_EQ(config.control_users.kind, ClientPolicy::Kind::Users);
  EXPECT_EQ(config.control_users.users, (std::vector<std::string>{"alice", "bob"}));
  ASSERT_TRUE(apply_option_text(*find_option("control-users"), "none", config, &error));
  EXPECT_TRUE(config.control_users.users.empty());
  EXPECT_FALSE(client_policy_allows(config.control_users, "alice"));
  EXPECT_FALSE(apply_option_text(*find_option("control-users"), "any", config, &error));
  EXPECT_NE(error.find("any is not allowed"), std::string::npos) << error;
}

TEST(ParseOptionsTest, TheProxyCaLivesInTheCacheDirUnlessGiven) {
  EXPECT_EQ(parse_ok({"--cache-dir", "/srv/cache"}).ca_dir, "/srv/cache/ca");
  EXPECT_EQ(parse_ok({"--cache-dir", "/srv/cache", "--ca-dir", "/etc/regcache/ca"}).ca_dir,
            "/etc/regcache/ca");
}

TEST(ParseOptionsTest, LeafCertificatesMaxIsACountOfOneOrMore) {
  EXPECT_EQ(parse_ok({}).leaf_certificates_max, 1024u);
  EXPECT_EQ(parse_ok({"--leaf-certificates-max", "8"}).leaf_certificates_max, 8u);
  expect_error({"--leaf-certificates-max", "0"}, "--leaf-certificates-max", "0");
}

TEST(HelpTextTest, EveryOptionEntryShowsItsDefaultAndEnvironmentVariable) {
  size_t count = 0;
  for (const std::string &entry : option_entries(help_text())) {
    if (!entry.starts_with("  --"))
      continue; // -h/--help and -V/--version have no default
    ++count;
    EXPECT_NE(entry.find("(default: "), std::string::npos) << entry;
    EXPECT_NE(entry.find("[env: REGCACHE_"), std::string::npos) << entry;
  }
  EXPECT_EQ(count, 58u);
}

TEST(HelpTextTest, NamesTheEnvironmentVariableOfAnOption) {
  const std::string help = help_text();
  EXPECT_NE(help.find("[env: REGCACHE_UPSTREAM_READ_TIMEOUT_MS]"), std::string::npos);
  EXPECT_NE(help.find("[env: REGCACHE_NO_ACCESS_LOG]"), std::string::npos);
}

TEST(HelpTextTest, ListsTheAliasesApartWithoutEnvironmentVariables) {
  const std::string help = help_text();
  const size_t aliases = help.find("Aliases (acr-cache-proxy's flags):");
  ASSERT_NE(aliases, std::string::npos);
  EXPECT_GT(help.find("--listen-address ADDR"), aliases);
  EXPECT_GT(help.find("--upstream-domain HOST"), aliases);
  EXPECT_EQ(help.find("REGCACHE_LISTEN_ADDRESS"), std::string::npos);
  EXPECT_EQ(help.find("REGCACHE_UPSTREAM_DOMAIN"), std::string::npos);
}

TEST(HelpTextTest, DocumentsTheOtherEnvironmentVariables) {
  const std::string help = help_text();
  for (std::string_view name :
       {"REGISTRIES", "AUTH_REGISTRIES", "AUTH_REGISTRIES_DELIMITER", "AUTH_REGISTRY_DELIMITER",
        "ENABLE_MANIFEST_CACHE", "MANIFEST_CACHE_*", "AZURE_TENANT_ID", "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE", "REGCACHE_ACR_IMDS_URL",
        "REGCACHE_ACR_AUTHORITY_URL", "REGCACHE_ACR_EXCHANGE_URL", "REGCACHE_ACR_TOKEN_URL",
        "auth.docker.io"}) {
    EXPECT_NE(help.find(name), std::string::npos) << name;
  }
}

TEST(HelpTextTest, DocumentsTheConfigFileKeys) {
  const std::string help = help_text();
  for (std::string_view key : {"\"upstreams\"", "\"credentials\"", "\"acr\"", "\"manifest_cache\"",
                               "snake_case", "chmod 600"}) {
    EXPECT_NE(help.find(key), std::string::npos) << key;
  }
}

TEST(HelpTextTest, NoLineIsWiderThanEightyColumns) {
  const std::string help = help_text();
  for (std::string_view line : lines_of(help))
    EXPECT_LE(line.size(), 80u) << line;
}

TEST(HelpTextTest, ShowsDefaultValuesFromConfig) {
  const std::string help = help_text();
  for (std::string_view fragment :
       {"(default: 127.0.0.1:3128)", "(default: https://registry-1.docker.io)", "(default: 1)",
        "(default: 10000)", "(default: 60000)", "(default: 5000)", "(default: 0)",
        "the fd limit allows)", "(default: 64)", "(default: 4194304)", "(default: off)",
        "/var/cache/regcache"}) {
    EXPECT_NE(help.find(fragment), std::string::npos) << fragment;
  }
}

// --- Layers: command line > environment > config file > defaults --------------------------

using Variables = std::map<std::string, std::string, std::less<>>;

// A file under the test's temporary directory, removed at the end of the test.
class TempFile {
public:
  explicit TempFile(std::string_view content, mode_t mode = 0600) {
    path_ = testing::TempDir() + "regcache_options_XXXXXX";
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

// Parses `arguments` with `variables` as the environment; the map must outlive the call.
ParsedOptions parse_with(std::initializer_list<const char *> arguments,
                         const Variables &variables) {
  ProcessEnvironment environment{false, "", "/home/user"};
  environment.variables = [&variables](std::string_view name) -> std::optional<std::string_view> {
    const auto found = variables.find(name);
    if (found == variables.end())
      return std::nullopt;
    return std::string_view(found->second);
  };
  return parse(arguments, environment);
}

Config parse_with_ok(std::initializer_list<const char *> arguments, const Variables &variables) {
  ParsedOptions parsed = parse_with(arguments, variables);
  EXPECT_EQ(parsed.outcome, Outcome::Run) << parsed.message;
  return parsed.config;
}

std::string expect_layer_error(std::initializer_list<const char *> arguments,
                               const Variables &variables) {
  const ParsedOptions parsed = parse_with(arguments, variables);
  EXPECT_EQ(parsed.outcome, Outcome::Error);
  EXPECT_EQ(parsed.message.find('\n'), std::string::npos) << parsed.message;
  return parsed.message;
}

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

TEST(LayeringTest, EnvironmentVariableSetsAnOption) {
  EXPECT_EQ(parse_with_ok({}, {{"REGCACHE_LISTEN", "0.0.0.0:5000"}}).listen_address,
            "0.0.0.0:5000");
}

TEST(LayeringTest, ConfigFileSetsAnOption) {
  const TempFile file(R"({"upstream_read_timeout_ms": 1234})");
  EXPECT_EQ(parse_with_ok({"--config", file.path().c_str()}, {}).upstream_read_timeout_ms, 1234u);
}

TEST(LayeringTest, CommandLineBeatsEnvironment) {
  EXPECT_EQ(parse_with_ok({"--workers", "3"}, {{"REGCACHE_WORKERS", "7"}}).workers, 3u);
}

TEST(LayeringTest, EnvironmentBeatsConfigFile) {
  const TempFile file(R"({"workers": 5})");
  EXPECT_EQ(parse_with_ok({"--config", file.path().c_str()}, {{"REGCACHE_WORKERS", "7"}}).workers,
            7u);
}

TEST(LayeringTest, CommandLineBeatsConfigFile) {
  const TempFile file(R"({"workers": 5})");
  EXPECT_EQ(parse_with_ok({"--config", file.path().c_str(), "--workers", "2"}, {}).workers, 2u);
}

TEST(LayeringTest, ConfigFileBeatsDefault) {
  const TempFile file(R"({"connections_max": 10})");
  const Config config = parse_with_ok({"--config", file.path().c_str()}, {});
  EXPECT_EQ(config.connections_max, 10u);
  EXPECT_EQ(config.idle_timeout_ms, Config{}.idle_timeout_ms);
}

TEST(LayeringTest, EnvironmentFlagFalseOverridesConfigFileTrue) {
  const TempFile file(R"({"insecure_upstream": true})");
  EXPECT_FALSE(
      parse_with_ok({"--config", file.path().c_str()}, {{"REGCACHE_INSECURE_UPSTREAM", "false"}})
          .insecure_upstream);
}

TEST(LayeringTest, EmptyEnvironmentVariableCountsAsUnset) {
  EXPECT_EQ(parse_with_ok({}, {{"REGCACHE_WORKERS", ""}}).workers, 1u);
}

TEST(LayeringTest, ConfigFileNamedByEnvironmentIsRead) {
  const TempFile file(R"({"workers": 9})");
  const Config config = parse_with_ok({}, {{"REGCACHE_CONFIG", file.path()}});
  EXPECT_EQ(config.workers, 9u);
  EXPECT_EQ(config.config_file, file.path());
}

TEST(LayeringTest, CommandLineConfigFileBeatsEnvironmentConfigFile) {
  const TempFile named(R"({"workers": 4})");
  const TempFile ignored(R"({"workers": 8})");
  const Config config =
      parse_with_ok({"--config", named.path().c_str()}, {{"REGCACHE_CONFIG", ignored.path()}});
  EXPECT_EQ(config.workers, 4u);
  EXPECT_EQ(config.config_file, named.path());
}

TEST(LayeringTest, BadEnvironmentValueIsAnErrorNamingTheVariableAndValue) {
  const std::string message = expect_layer_error({}, {{"REGCACHE_WORKERS", "abc"}});
  EXPECT_TRUE(contains(message, "REGCACHE_WORKERS")) << message;
  EXPECT_TRUE(contains(message, "abc")) << message;
}

TEST(LayeringTest, BadConfigFileIsAnErrorNamingTheFile) {
  const TempFile file("{\"workers\": ");
  const std::string message = expect_layer_error({"--config", file.path().c_str()}, {});
  EXPECT_TRUE(contains(message, file.path())) << message;
}

TEST(LayeringTest, MissingConfigFileIsAnErrorNamingIt) {
  const std::string message = expect_layer_error({"--config", "/nonexistent/regcache.json"}, {});
  EXPECT_TRUE(contains(message, "/nonexistent/regcache.json")) << message;
}

TEST(LayeringTest, CommandLineValueErrorIsReportedBeforeConfigFileError) {
  const std::string message =
      expect_layer_error({"--config", "/nonexistent/regcache.json", "--workers", "x"}, {});
  EXPECT_TRUE(contains(message, "--workers")) << message;
}

TEST(LayeringTest, HelpDoesNotReadTheEnvironmentOrConfigFile) {
  EXPECT_EQ(parse_with({"--config", "/nonexistent/regcache.json", "--help"},
                       {{"REGCACHE_WORKERS", "abc"}})
                .outcome,
            Outcome::Help);
}

TEST(LayeringTest, ConfigFileManifestCacheStandsWithoutManifestCacheVariables) {
  const TempFile file(R"({"manifest_cache": {"default_ttl": "5m", "tiers": []}})");
  const Config config = parse_with_ok({"--config", file.path().c_str()}, {});
  EXPECT_TRUE(config.manifest_ttl.enabled);
  EXPECT_EQ(config.manifest_ttl.default_ttl_ms, 5u * 60 * 1000);
  EXPECT_TRUE(config.manifest_ttl.tiers.empty());
}

TEST(LayeringTest, ManifestCacheVariablesReplaceTheConfigFilesPolicy) {
  const TempFile file(R"({"manifest_cache": {"default_ttl": "5m", "tiers": []}})");
  const Config config =
      parse_with_ok({"--config", file.path().c_str()},
                    {{"ENABLE_MANIFEST_CACHE", "true"}, {"MANIFEST_CACHE_DEFAULT_TIME", "2h"}});
  EXPECT_TRUE(config.manifest_ttl.enabled);
  EXPECT_EQ(config.manifest_ttl.default_ttl_ms, 2u * 3600 * 1000);
  EXPECT_EQ(config.manifest_ttl.tiers.size(), 2u); // docker-registry-proxy's two default tiers
}

TEST(LayeringTest, EnableManifestCacheFalseDisablesTheConfigFilesPolicy) {
  const TempFile file(R"({"manifest_cache": {"enabled": true}})");
  EXPECT_FALSE(
      parse_with_ok({"--config", file.path().c_str()}, {{"ENABLE_MANIFEST_CACHE", "false"}})
          .manifest_ttl.enabled);
}

TEST(LayeringTest, BadManifestCacheVariableIsAnErrorNamingIt) {
  const std::string message = expect_layer_error(
      {}, {{"ENABLE_MANIFEST_CACHE", "true"}, {"MANIFEST_CACHE_PRIMARY_TIME", "10x"}});
  EXPECT_TRUE(contains(message, "MANIFEST_CACHE_PRIMARY_TIME")) << message;
}

TEST(LayeringTest, AliasesHaveNoEnvironmentVariable) {
  EXPECT_EQ(parse_with_ok({}, {{"REGCACHE_LISTEN_ADDRESS", "0.0.0.0:1"}}).listen_address,
            "127.0.0.1:3128");
}

// --- The default upstream, upstreams[0] ---------------------------------------------------

TEST(DefaultUpstreamTest, DefaultIsDockerHubUnderHostDockerIo) {
  const Config config = parse_ok({});
  ASSERT_EQ(config.upstreams.size(), 1u);
  EXPECT_EQ(config.upstreams[0].host, "docker.io");
  EXPECT_EQ(config.upstreams[0].url, (UpstreamUrl{true, "registry-1.docker.io", 443}));
  EXPECT_EQ(config.upstreams[0].kind, UpstreamKind::Registry);
}

TEST(DefaultUpstreamTest, UpstreamOptionSetsElementZeroWithItsAuthorityAsHost) {
  const Config config = parse_ok({"--upstream", "http://LocalHost:5000"});
  EXPECT_EQ(config.upstreams[0].host, "localhost:5000");
  EXPECT_EQ(config.upstreams[0].url, (UpstreamUrl{false, "localhost", 5000}));
  EXPECT_EQ(&config.default_upstream(), &config.upstreams[0]);
}

TEST(DefaultUpstreamTest, CarriesTheGlobalInsecureFlagAndCaFile) {
  const Config config = parse_ok({"--insecure-upstream", "--upstream-ca-file", "/ca.pem"});
  EXPECT_TRUE(config.upstreams[0].insecure);
  EXPECT_EQ(config.upstreams[0].ca_file, "/ca.pem");
}

TEST(DefaultUpstreamTest, UpstreamKindAcceptsRegistryAndAcr) {
  EXPECT_EQ(parse_ok({"--upstream-kind", "acr"}).upstreams[0].kind, UpstreamKind::Acr);
  EXPECT_EQ(parse_ok({"--upstream-kind=registry"}).upstreams[0].kind, UpstreamKind::Registry);
}

TEST(DefaultUpstreamTest, UnknownUpstreamKindIsAnError) {
  expect_error({"--upstream-kind", "ecr"}, "--upstream-kind", "ecr");
}

TEST(DefaultUpstreamTest, UpstreamKindComesFromTheEnvironment) {
  EXPECT_EQ(parse_with_ok({}, {{"REGCACHE_UPSTREAM_KIND", "acr"}}).upstreams[0].kind,
            UpstreamKind::Acr);
}

TEST(DefaultUpstreamTest, UpstreamPrefixSetsTheDefaultUpstreamsPrefix) {
  EXPECT_EQ(parse_ok({"--upstream-prefix", "hub"}).upstreams[0].prefix, "hub");
  EXPECT_EQ(parse_ok({"--upstream-prefix=cache/dockerhub"}).upstreams[0].prefix, "cache/dockerhub");
}

TEST(DefaultUpstreamTest, UpstreamPrefixWithSlashesAroundIsAnError) {
  expect_error({"--upstream-prefix", "/hub/"}, "--upstream-prefix", "/hub/");
}

TEST(AcrAliasTest, UpstreamDomainMakesAnAcrDefaultUpstream) {
  const Config config = parse_ok({"--upstream-domain", "example.azurecr.io"});
  EXPECT_EQ(config.upstreams[0].url, (UpstreamUrl{true, "example.azurecr.io", 443}));
  EXPECT_EQ(config.upstreams[0].host, "example.azurecr.io");
  EXPECT_EQ(config.upstreams[0].kind, UpstreamKind::Acr);
  EXPECT_EQ(config.default_upstream().url, (UpstreamUrl{true, "example.azurecr.io", 443}));
}

TEST(AcrAliasTest, AcrCacheProxyCommandLineWorksUnchanged) {
  const Config config = parse_ok({"--upstream-domain", "example.azurecr.io", "--upstream-prefix",
                                  "hub", "--listen-address", "127.0.0.1:8080"});
  EXPECT_EQ(config.upstreams[0].kind, UpstreamKind::Acr);
  EXPECT_EQ(config.upstreams[0].prefix, "hub");
  EXPECT_EQ(config.listen_address, "127.0.0.1:8080");
}

TEST(AcrAliasTest, UpstreamDomainWithSchemeIsAnError) {
  expect_error({"--upstream-domain", "https://x.azurecr.io"}, "--upstream-domain",
               "https://x.azurecr.io");
}

TEST(AcrAliasTest, ListenAddressIsAnAliasOfListen) {
  EXPECT_EQ(parse_ok({"--listen-address=0.0.0.0:80"}).listen_address, "0.0.0.0:80");
  expect_error({"--listen-address", ":80"}, "--listen-address", ":80");
}

TEST(AcrAliasTest, AzureVariablesConfigureTheDefaultUpstream) {
  const Config config = parse_with_ok({"--upstream-domain", "x.azurecr.io"},
                                      {{"AZURE_CLIENT_ID", "client"},
                                       {"AZURE_TENANT_ID", "tenant"},
                                       {"AZURE_CLIENT_SECRET", "s3cret"},
                                       {"AZURE_FEDERATED_TOKEN_FILE", "/var/run/token"},
                                       {"REGCACHE_ACR_IMDS_URL", "http://127.0.0.1:1/imds"}});
  const AcrSettings &acr = config.upstreams[0].acr;
  EXPECT_EQ(acr.client_id, "client");
  EXPECT_EQ(acr.tenant_id, "tenant");
  EXPECT_EQ(acr.client_secret, "s3cret");
  EXPECT_EQ(acr.token_file, "/var/run/token");
  EXPECT_EQ(acr.imds_url, "http://127.0.0.1:1/imds");
  EXPECT_EQ(acr.authority_url, AcrSettings{}.authority_url);
}

TEST(AcrAliasTest, EnvironmentBeatsTheConfigFilesTopLevelAcr) {
  const TempFile file(R"({"acr": {"client_id": "from-file", "tenant_id": "file-tenant"}})");
  const Config config =
      parse_with_ok({"--config", file.path().c_str()}, {{"AZURE_CLIENT_ID", "from-env"}});
  EXPECT_EQ(config.upstreams[0].acr.client_id, "from-env");
  EXPECT_EQ(config.upstreams[0].acr.tenant_id, "file-tenant");
}

TEST(AcrAliasTest, AnExtraUpstreamsOwnAcrSettingsBeatTheEnvironment) {
  const TempFile file(R"({"upstreams": [{"host": "b.azurecr.io", "kind": "acr",
                          "acr": {"client_id": "own"}}]})");
  const Config config = parse_with_ok({"--config", file.path().c_str()},
                                      {{"AZURE_CLIENT_ID", "env"}, {"AZURE_TENANT_ID", "t"}});
  ASSERT_EQ(config.upstreams.size(), 2u);
  EXPECT_EQ(config.upstreams[1].acr.client_id, "own");
  EXPECT_EQ(config.upstreams[1].acr.tenant_id, "t");
  EXPECT_EQ(config.upstreams[0].acr.client_id, "env");
}

// --- Extra upstreams and credentials across layers ----------------------------------------

TEST(UpstreamTableTest, RegistriesBecomeExtraUpstreamsAfterTheDefault) {
  const Config config = parse_with_ok({}, {{"REGISTRIES", "ghcr.io quay.io"}});
  ASSERT_EQ(config.upstreams.size(), 3u);
  EXPECT_EQ(config.upstreams[0].host, "docker.io");
  EXPECT_EQ(config.upstreams[1].host, "ghcr.io");
  EXPECT_EQ(config.upstreams[1].url, (UpstreamUrl{true, "ghcr.io", 443}));
  EXPECT_EQ(config.upstreams[2].host, "quay.io");
}

TEST(UpstreamTableTest, RegistriesNamingTheDefaultUpstreamAddNothing) {
  const Config config =
      parse_with_ok({}, {{"REGISTRIES", "registry-1.docker.io docker.io index.docker.io"}});
  EXPECT_EQ(config.upstreams.size(), 1u);
}

TEST(UpstreamTableTest, ConfigFileUpstreamsComeBeforeRegistriesAndKeepTheirSettings) {
  const TempFile file(R"({"upstreams": [{"host": "ghcr.io", "prefix": "mirror"}]})");
  const Config config =
      parse_with_ok({"--config", file.path().c_str()}, {{"REGISTRIES", "quay.io ghcr.io"}});
  ASSERT_EQ(config.upstreams.size(), 3u);
  EXPECT_EQ(config.upstreams[1].host, "ghcr.io");
  EXPECT_EQ(config.upstreams[1].prefix, "mirror");
  EXPECT_EQ(config.upstreams[2].host, "quay.io");
}

TEST(UpstreamTableTest, ConfigFileUpstreamNamingTheDefaultUpstreamIsAnError) {
  const TempFile file(R"({"upstreams": [{"host": "docker.io"}]})");
  const std::string message = expect_layer_error({"--config", file.path().c_str()}, {});
  EXPECT_TRUE(contains(message, "upstreams[0].host")) << message;
  EXPECT_TRUE(contains(message, file.path())) << message;
}

TEST(UpstreamTableTest, ChangingTheDefaultUpstreamFreesItsHostForTheFile) {
  const TempFile file(R"({"upstreams": [{"host": "docker.io"}]})");
  const Config config =
      parse_with_ok({"--config", file.path().c_str(), "--upstream", "https://ghcr.io"}, {});
  ASSERT_EQ(config.upstreams.size(), 2u);
  EXPECT_EQ(config.upstreams[0].host, "ghcr.io");
  EXPECT_EQ(config.upstreams[1].host, "docker.io");
}

TEST(CredentialLayersTest, AuthRegistriesBeatConfigFileCredentials) {
  const TempFile file(R"({"credentials": [
      {"host": "quay.io", "username": "file-user", "password": "file-pass"},
      {"host": "ghcr.io", "username": "g", "password": "gp"}]})");
  const Config config = parse_with_ok({"--config", file.path().c_str()},
                                      {{"AUTH_REGISTRIES", "quay.io:env-user:env-pass"}});
  ASSERT_EQ(config.credentials.size(), 2u);
  const HostCredentials *quay = find_credentials(config.credentials, "quay.io");
  ASSERT_NE(quay, nullptr);
  EXPECT_EQ(quay->username, "env-user");
  EXPECT_NE(find_credentials(config.credentials, "ghcr.io"), nullptr);
}

TEST(CredentialLayersTest, ConfigFileCredentialsBeatTheDockerConfig) {
  const TempFile docker(R"({"auths": {"quay.io": {"username": "docker", "password": "d"},
                                      "ghcr.io": {"username": "gh", "password": "g"}}})");
  const std::string json = R"({"docker_config": ")" + docker.path() +
                           R"(", "credentials": [{"host": "quay.io", "username": "file",
                              "password": "f"}]})";
  const TempFile file(json);
  const Config config = parse_with_ok({"--config", file.path().c_str()}, {});
  EXPECT_EQ(config.docker_config_file, docker.path());
  ASSERT_NE(find_credentials(config.credentials, "quay.io"), nullptr);
  EXPECT_EQ(find_credentials(config.credentials, "quay.io")->username, "file");
  ASSERT_NE(find_credentials(config.credentials, "ghcr.io"), nullptr);
}

TEST(CredentialLayersTest, DockerConfigNamedByEnvironmentIsRead) {
  const TempFile docker(R"({"auths": {"https://index.docker.io/v1/": {"auth": "dTpw"}}})");
  const Config config = parse_with_ok({}, {{"REGCACHE_DOCKER_CONFIG", docker.path()}});
  const HostCredentials *hub = find_credentials(config.credentials, "auth.docker.io");
  ASSERT_NE(hub, nullptr);
  EXPECT_EQ(hub->username, "u");
  EXPECT_EQ(hub->password, "p");
}

TEST(CredentialLayersTest, UnreadableDockerConfigIsAnErrorNamingIt) {
  const std::string message =
      expect_layer_error({"--docker-config", "/nonexistent/config.json"}, {});
  EXPECT_TRUE(contains(message, "/nonexistent/config.json")) << message;
}

TEST(CredentialLayersTest, WarningsOfEveryLayerAreReturned) {
  const TempFile docker(R"({"credsStore": "desktop", "auths": {}})");
  const ParsedOptions parsed = parse_with({"--docker-config", docker.path().c_str()},
                                          {{"AUTH_REGISTRIES", "quay.io:u:p:extra"}});
  ASSERT_EQ(parsed.outcome, Outcome::Run) << parsed.message;
  ASSERT_EQ(parsed.warnings.size(), 2u);
  EXPECT_TRUE(contains(parsed.warnings[0], "AUTH_REGISTRIES")) << parsed.warnings[0];
  EXPECT_TRUE(contains(parsed.warnings[1], "credsStore")) << parsed.warnings[1];
}

TEST(CredentialLayersTest, BadAuthRegistriesErrorDoesNotContainThePassword) {
  const std::string message = expect_layer_error(
      {}, {{"AUTH_REGISTRIES", "quay.io:user:Secr3tPa55 bad host:u2:Other5ecret"}});
  EXPECT_TRUE(contains(message, "AUTH_REGISTRIES")) << message;
  EXPECT_FALSE(contains(message, "Secr3tPa55")) << message;
  EXPECT_FALSE(contains(message, "Other5ecret")) << message;
}

} // namespace
} // namespace regcache::registry

#include "registry/options.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

namespace regcache::registry {
namespace {

constexpr ProcessEnvironment kUserEnvironment{false, "", "/home/user"};

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
  EXPECT_EQ(config.upstream, (UpstreamUrl{true, "registry-1.docker.io", 443}));
  EXPECT_EQ(config.cache_dir, "/home/user/.cache/regcache");
  EXPECT_EQ(config.workers, 1u);
  EXPECT_FALSE(config.insecure_upstream);
  EXPECT_EQ(config.upstream_ca_file, "");
  EXPECT_EQ(config.header_timeout_ms, 10000u);
  EXPECT_EQ(config.idle_timeout_ms, 60000u);
  EXPECT_EQ(config.upstream_connect_timeout_ms, 5000u);
  EXPECT_EQ(config.upstream_read_timeout_ms, 60000u);
  EXPECT_EQ(config.shutdown_grace_ms, 10000u);
  EXPECT_EQ(config.connections_max, 4096u);
  EXPECT_EQ(config.upstream_connections_max, 64u);
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
  EXPECT_EQ(parse_ok({"--upstream", "http://localhost:5000/"}).upstream,
            (UpstreamUrl{false, "localhost", 5000}));
  EXPECT_EQ(parse_ok({"--upstream=https://ghcr.io"}).upstream, (UpstreamUrl{true, "ghcr.io", 443}));
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
      {"--upstream-connections-max", &Config::upstream_connections_max},
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

TEST(ParseOptionsTest, ZeroIsAcceptedWhereItMeansSomething) {
  EXPECT_EQ(parse_ok({"--shutdown-grace-ms", "0"}).shutdown_grace_ms, 0u);
  EXPECT_EQ(parse_ok({"--upstream-connections-max", "0"}).upstream_connections_max, 0u);
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
  for (std::string_view option :
       {"--listen ", "--upstream ", "--cache-dir ", "--workers ", "--insecure-upstream ",
        "--upstream-ca-file ", "--header-timeout-ms ", "--idle-timeout-ms ",
        "--upstream-connect-timeout-ms ", "--upstream-read-timeout-ms ", "--shutdown-grace-ms ",
        "--connections-max ", "--upstream-connections-max ", "--manifest-bytes-max ",
        "--no-access-log ", "--help", "--version"}) {
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

TEST(HelpTextTest, EveryOptionEntryShowsItsDefault) {
  // An entry is a line starting with "  --" and its indented continuation lines.
  const std::string help = help_text();
  std::vector<std::string> entries;
  for (std::string_view line : lines_of(help)) {
    if (line.starts_with("  -")) {
      entries.emplace_back(line);
    } else if (!entries.empty() && line.starts_with("      ")) {
      entries.back().append(" ").append(line);
    }
  }
  size_t option_entries = 0;
  for (const std::string &entry : entries) {
    if (!entry.starts_with("  --"))
      continue; // -h/--help and -V/--version have no default
    ++option_entries;
    EXPECT_NE(entry.find("(default: "), std::string::npos) << entry;
  }
  EXPECT_EQ(option_entries, 15u);
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
        "(default: 10000)", "(default: 60000)", "(default: 5000)", "(default: 4096)",
        "(default: 64)", "(default: 4194304)", "(default: off)", "/var/cache/regcache"}) {
    EXPECT_NE(help.find(fragment), std::string::npos) << fragment;
  }
}

TEST(ParseListenAddressTest, SplitsIpv4AndPort) {
  const std::optional<ListenAddress> address = parse_listen_address("10.1.2.3:8080");
  ASSERT_TRUE(address);
  EXPECT_EQ(address->host, "10.1.2.3");
  EXPECT_EQ(address->port, 8080);
  EXPECT_FALSE(address->is_ipv6);
}

TEST(ParseListenAddressTest, SplitsBracketedIpv6AndPort) {
  const std::optional<ListenAddress> address = parse_listen_address("[fe80::1]:443");
  ASSERT_TRUE(address);
  EXPECT_EQ(address->host, "fe80::1");
  EXPECT_EQ(address->port, 443);
  EXPECT_TRUE(address->is_ipv6);
}

TEST(ParseListenAddressTest, RejectsHostNames) {
  EXPECT_FALSE(parse_listen_address("localhost:3128"));
}

} // namespace
} // namespace regcache::registry

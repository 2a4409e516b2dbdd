#include "registry/config/option_table.h"

#include <gtest/gtest.h>

namespace regcache::registry {
namespace {

// --- REGCACHE_<OPTION> ---------------------------------------------------------------------

TEST(EnvironmentVariableNameTest, IsRegcacheAndTheOptionInUpperSnakeCase) {
  EXPECT_EQ(option_environment_variable(*find_option("upstream-read-timeout-ms")),
            "REGCACHE_UPSTREAM_READ_TIMEOUT_MS");
  EXPECT_EQ(option_environment_variable(*find_option("listen")), "REGCACHE_LISTEN");
  EXPECT_EQ(option_environment_variable(*find_option("no-access-log")), "REGCACHE_NO_ACCESS_LOG");
}

TEST(EnvironmentVariableNameTest, CommandLineAliasesHaveNone) {
  EXPECT_EQ(option_environment_variable(*find_option("listen-address")), "");
  EXPECT_EQ(option_environment_variable(*find_option("upstream-domain")), "");
}

// --- Config file keys ----------------------------------------------------------------------

TEST(ConfigFileKeyTest, IsTheOptionNameInSnakeCase) {
  EXPECT_EQ(option_file_key(*find_option("upstream-read-timeout-ms")), "upstream_read_timeout_ms");
  EXPECT_EQ(option_file_key(*find_option("docker-config")), "docker_config");
}

TEST(ConfigFileKeyTest, ConfigAndTheAliasesHaveNone) {
  EXPECT_EQ(option_file_key(*find_option("config")), "");
  EXPECT_EQ(option_file_key(*find_option("listen-address")), "");
  EXPECT_EQ(option_file_key(*find_option("upstream-domain")), "");
}

} // namespace
} // namespace regcache::registry

#include "registry/serve/proxy_setup.h"

#include <gtest/gtest.h>

namespace regcache::registry {
namespace {

TEST(PlainHostField, HostsPortsAndBracketedIpv6Pass) {
  EXPECT_TRUE(is_plain_host_field("regcache.internal:3128"));
  EXPECT_TRUE(is_plain_host_field("10.0.0.5"));
  EXPECT_TRUE(is_plain_host_field("[fd00::1]:3128"));
}

TEST(PlainHostField, ShellSyntaxAndEmptyAreRefused) {
  EXPECT_FALSE(is_plain_host_field(""));
  EXPECT_FALSE(is_plain_host_field("x$(touch /tmp/p)"));
  EXPECT_FALSE(is_plain_host_field("a b"));
  EXPECT_FALSE(is_plain_host_field("a'b"));
  EXPECT_FALSE(is_plain_host_field("a;b"));
  EXPECT_FALSE(is_plain_host_field(std::string(301, 'a')));
}

TEST(SystemdSetupScript, CarriesTheProxyAndTheCaAndFetchesNothing) {
  const std::string pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  const std::string script = systemd_setup_script("http://regcache:3128", pem);
  EXPECT_EQ(script.rfind("#!/bin/sh\n", 0), 0u);
  EXPECT_NE(script.find("HTTPS_PROXY=http://regcache:3128"), std::string::npos);
  EXPECT_NE(script.find("<<'REGCACHE_CA'\n" + pem + "REGCACHE_CA\n"), std::string::npos);
  EXPECT_NE(script.find("${REGCACHE_SETUP_ROOT:-}"), std::string::npos);
  EXPECT_EQ(script.find("curl"), std::string::npos);
  EXPECT_EQ(script.find("wget"), std::string::npos);
}

} // namespace
} // namespace regcache::registry

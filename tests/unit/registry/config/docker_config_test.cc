#include "registry/config/docker_config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <string_view>
#include <vector>

namespace regcache::registry {
namespace {

constexpr std::string_view kOrigin = "/root/.docker/config.json";

struct Parsed {
  bool ok;
  std::vector<HostCredentials> credentials;
  std::vector<std::string> warnings;
  std::string error;
};

Parsed parse(std::string_view json) {
  Parsed parsed{false, {}, {}, {}};
  parsed.ok =
      parse_docker_config(kOrigin, json, parsed.credentials, parsed.warnings, &parsed.error);
  return parsed;
}

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

TEST(DockerConfigTest, AuthIsDecodedAndSplitAtTheFirstColon) {
  // base64("user:pa:ss") = dXNlcjpwYTpzcw==
  const Parsed parsed = parse(R"({"auths": {"ghcr.io": {"auth": "dXNlcjpwYTpzcw=="}}})");
  ASSERT_TRUE(parsed.ok) << parsed.error;
  ASSERT_EQ(parsed.credentials.size(), 1u);
  EXPECT_EQ(parsed.credentials[0].host, "ghcr.io");
  EXPECT_EQ(parsed.credentials[0].username, "user");
  EXPECT_EQ(parsed.credentials[0].password, "pa:ss");
  EXPECT_TRUE(parsed.warnings.empty());
}

TEST(DockerConfigTest, UsernameAndPasswordFieldsAreRead) {
  const Parsed parsed =
      parse(R"({"auths": {"quay.io": {"username": "robot", "password": "tok", "email": "x"}}})");
  ASSERT_TRUE(parsed.ok) << parsed.error;
  ASSERT_EQ(parsed.credentials.size(), 1u);
  EXPECT_EQ(parsed.credentials[0].username, "robot");
  EXPECT_EQ(parsed.credentials[0].password, "tok");
}

TEST(DockerConfigTest, DockerHubKeyBecomesAuthDockerIo) {
  // base64("u:p") = dTpw
  const Parsed parsed = parse(R"({"auths": {"https://index.docker.io/v1/": {"auth": "dTpw"}}})");
  ASSERT_TRUE(parsed.ok) << parsed.error;
  ASSERT_EQ(parsed.credentials.size(), 1u);
  EXPECT_EQ(parsed.credentials[0].host, "auth.docker.io");
}

TEST(DockerConfigTest, KeysLoseSchemeAndPathAndKeepAPort) {
  const Parsed parsed = parse(R"({"auths": {"https://Registry.Example:5000/v2/": {"auth": "dTpw"},
                                            "http://10.0.0.1:443": {"auth": "dTpw"}}})");
  ASSERT_TRUE(parsed.ok) << parsed.error;
  ASSERT_EQ(parsed.credentials.size(), 2u);
  EXPECT_EQ(parsed.credentials[0].host, "registry.example:5000");
  EXPECT_EQ(parsed.credentials[1].host, "10.0.0.1");
}

TEST(DockerConfigTest, SecondKeyForTheSameHostIsIgnoredWithAWarning) {
  // base64("v:q") = djpx
  const Parsed parsed = parse(R"({"auths": {"https://index.docker.io/v1/": {"auth": "dTpw"},
                                            "docker.io": {"auth": "djpx"}}})");
  ASSERT_TRUE(parsed.ok) << parsed.error;
  ASSERT_EQ(parsed.credentials.size(), 1u);
  EXPECT_EQ(parsed.credentials[0].username, "u");
  ASSERT_EQ(parsed.warnings.size(), 1u);
  EXPECT_TRUE(contains(parsed.warnings[0], "auth.docker.io")) << parsed.warnings[0];
}

TEST(DockerConfigTest, CredentialsAlreadyInTheListDoNotCountAsDuplicates) {
  std::vector<HostCredentials> credentials = {{"ghcr.io", "earlier", "x"}};
  std::vector<std::string> warnings;
  std::string error;
  ASSERT_TRUE(parse_docker_config(kOrigin, R"({"auths": {"ghcr.io": {"auth": "dTpw"}}})",
                                  credentials, warnings, &error));
  EXPECT_EQ(credentials.size(), 2u);
  EXPECT_TRUE(warnings.empty());
}

TEST(DockerConfigTest, CredsStoreAndCredHelpersAreIgnoredWithAWarning) {
  const Parsed parsed = parse(R"({"auths": {"https://index.docker.io/v1/": {}},
      "credsStore": "desktop", "credHelpers": {"gcr.io": "gcloud"}})");
  ASSERT_TRUE(parsed.ok) << parsed.error;
  EXPECT_TRUE(parsed.credentials.empty());
  ASSERT_EQ(parsed.warnings.size(), 1u);
  EXPECT_TRUE(contains(parsed.warnings[0], "credsStore, credHelpers ignored"))
      << parsed.warnings[0];
  EXPECT_TRUE(contains(parsed.warnings[0], "https://index.docker.io/v1/")) << parsed.warnings[0];
}

TEST(DockerConfigTest, IdentityTokenEntryIsNotUsedAndIsNamed) {
  // What `az acr login` writes: the null GUID user with an empty password and a refresh token.
  // base64("00000000-0000-0000-0000-000000000000:") =
  // MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwOg==
  const Parsed parsed = parse(R"({"auths": {"x.azurecr.io": {
      "auth": "MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwOg==", "identitytoken": "eyJ"}}})");
  ASSERT_TRUE(parsed.ok) << parsed.error;
  EXPECT_TRUE(parsed.credentials.empty());
  ASSERT_EQ(parsed.warnings.size(), 1u);
  EXPECT_TRUE(contains(parsed.warnings[0], "x.azurecr.io (identitytoken)")) << parsed.warnings[0];
  EXPECT_FALSE(contains(parsed.warnings[0], "eyJ")) << parsed.warnings[0];
}

TEST(DockerConfigTest, NoAuthsIsEmptyWithoutWarnings) {
  const Parsed parsed = parse(R"({"psFormat": "table"})");
  ASSERT_TRUE(parsed.ok) << parsed.error;
  EXPECT_TRUE(parsed.credentials.empty());
  EXPECT_TRUE(parsed.warnings.empty());
}

TEST(DockerConfigTest, InvalidBase64IsAnErrorThatQuotesNoSecret) {
  const Parsed parsed = parse(R"({"auths": {"ghcr.io": {"auth": "not*base64"}}})");
  EXPECT_FALSE(parsed.ok);
  EXPECT_TRUE(contains(parsed.error, "key \"auths.ghcr.io.auth\"")) << parsed.error;
  EXPECT_FALSE(contains(parsed.error, "not*base64")) << parsed.error;
}

TEST(DockerConfigTest, AuthWithoutColonIsAnError) {
  // base64("nocolon") = bm9jb2xvbg==
  const Parsed parsed = parse(R"({"auths": {"ghcr.io": {"auth": "bm9jb2xvbg=="}}})");
  EXPECT_FALSE(parsed.ok);
  EXPECT_TRUE(contains(parsed.error, "user:password")) << parsed.error;
  EXPECT_FALSE(contains(parsed.error, "nocolon")) << parsed.error;
}

TEST(DockerConfigTest, KeyThatIsNoHostIsAnError) {
  const Parsed parsed = parse(R"({"auths": {"not a host": {"auth": "dTpw"}}})");
  EXPECT_FALSE(parsed.ok);
  EXPECT_TRUE(contains(parsed.error, "auths.not a host")) << parsed.error;
}

TEST(DockerConfigTest, NonStringAuthIsAnError) {
  const Parsed parsed = parse(R"({"auths": {"ghcr.io": {"auth": 5}}})");
  EXPECT_FALSE(parsed.ok);
  EXPECT_TRUE(contains(parsed.error, "auths.ghcr.io.auth")) << parsed.error;
}

TEST(DockerConfigTest, InvalidJsonIsAnErrorNamingTheFile) {
  const Parsed parsed = parse("{\"auths\": ");
  EXPECT_FALSE(parsed.ok);
  EXPECT_TRUE(parsed.error.starts_with(std::string(kOrigin) + ": invalid JSON")) << parsed.error;
}

TEST(DockerConfigTest, AuthsThatIsNotAnObjectIsAnError) {
  const Parsed parsed = parse(R"({"auths": []})");
  EXPECT_FALSE(parsed.ok);
  EXPECT_TRUE(contains(parsed.error, "key \"auths\"")) << parsed.error;
}

TEST(DockerConfigTest, FileIsLoadedFromItsPath) {
  std::string path = testing::TempDir() + "regcache_docker_XXXXXX";
  const int fd = mkstemp(path.data());
  ASSERT_GE(fd, 0);
  const std::string_view json = R"({"auths": {"ghcr.io": {"auth": "dTpw"}}})";
  ASSERT_EQ(write(fd, json.data(), json.size()), static_cast<ssize_t>(json.size()));
  fchmod(fd, 0600);
  close(fd);
  std::vector<HostCredentials> credentials;
  std::vector<std::string> warnings;
  std::string error;
  EXPECT_TRUE(load_docker_config(path, credentials, warnings, &error)) << error;
  unlink(path.c_str());
  ASSERT_EQ(credentials.size(), 1u);
  EXPECT_EQ(credentials[0].host, "ghcr.io");
  EXPECT_TRUE(warnings.empty());
}

TEST(DockerConfigTest, MissingFileIsAnErrorNamingIt) {
  std::vector<HostCredentials> credentials;
  std::vector<std::string> warnings;
  std::string error;
  EXPECT_FALSE(load_docker_config("/nonexistent/config.json", credentials, warnings, &error));
  EXPECT_TRUE(error.starts_with("/nonexistent/config.json: ")) << error;
}

TEST(DockerConfigTest, WhatDockerLoginWritesIsRead) {
  // cli/config/configfile/file.go: json.MarshalIndent with tabs, "auth" from
  // base64.StdEncoding, so padded; here with two, one and no '=' of padding.
  const Parsed parsed =
      parse("{\n"
            "\t\"auths\": {\n"
            "\t\t\"ghcr.io\": {\n"
            "\t\t\t\"auth\": \"b2N0b2NhdDpnaHBfUjRuZDBtVDBrM25WNGx1M0YwclQzc3QxbmcwMDA=\"\n"
            "\t\t},\n"
            "\t\t\"https://index.docker.io/v1/\": {\n"
            "\t\t\t\"auth\": \"YWxpY2U6Y29ycmVjdCBob3JzZSBiYXR0ZXJ5IHN0YXBsZQ==\"\n"
            "\t\t},\n"
            "\t\t\"registry.example.com:5000\": {\n"
            "\t\t\t\"auth\": \"cm9ib3QkY2k6czNjcjN0PXB3\"\n"
            "\t\t}\n"
            "\t}\n"
            "}");
  ASSERT_TRUE(parsed.ok) << parsed.error;
  ASSERT_EQ(parsed.credentials.size(), 3u);
  EXPECT_EQ(parsed.credentials[0].host, "ghcr.io");
  EXPECT_EQ(parsed.credentials[0].username, "octocat");
  EXPECT_EQ(parsed.credentials[0].password, "ghp_R4nd0mT0k3nV4lu3F0rT3st1ng000");
  EXPECT_EQ(parsed.credentials[1].host, "auth.docker.io");
  EXPECT_EQ(parsed.credentials[1].username, "alice");
  EXPECT_EQ(parsed.credentials[1].password, "correct horse battery staple");
  EXPECT_EQ(parsed.credentials[2].host, "registry.example.com:5000");
  EXPECT_EQ(parsed.credentials[2].username, "robot$ci");
  EXPECT_EQ(parsed.credentials[2].password, "s3cr3t=pw");
  EXPECT_TRUE(parsed.warnings.empty());
}

TEST(DockerConfigTest, AuthWithoutItsPaddingIsRead) {
  // base64("u:pw") = dTpwdw== ; Docker's own decoder would refuse the unpadded form.
  const Parsed parsed = parse(R"({"auths": {"ghcr.io": {"auth": "dTpwdw"}}})");
  ASSERT_TRUE(parsed.ok) << parsed.error;
  ASSERT_EQ(parsed.credentials.size(), 1u);
  EXPECT_EQ(parsed.credentials[0].password, "pw");
}

TEST(DockerConfigTest, AuthWithPaddingNoEncoderWritesIsAnError) {
  // Extra or incomplete '=': Docker's base64.StdEncoding refuses these too.
  for (const std::string_view auth : {"dTpw=", "dTpwdw=", "dTpwdw==="}) {
    const Parsed parsed =
        parse(R"({"auths": {"ghcr.io": {"auth": ")" + std::string(auth) + R"("}}})");
    EXPECT_FALSE(parsed.ok) << auth;
    EXPECT_TRUE(contains(parsed.error, "key \"auths.ghcr.io.auth\": not valid base64"))
        << parsed.error;
  }
}

TEST(DockerConfigTest, AuthWithNonZeroUnusedBitsIsAnError) {
  // "dTpwdx==" decodes to "u:pw" if the low bits of 'x' are dropped, but no encoder writes it
  // (RFC 4648 section 3.5): the canonical text is "dTpwdw==".
  const Parsed parsed = parse(R"({"auths": {"ghcr.io": {"auth": "dTpwdx=="}}})");
  EXPECT_FALSE(parsed.ok);
  EXPECT_TRUE(contains(parsed.error, "key \"auths.ghcr.io.auth\": not valid base64"))
      << parsed.error;
}

} // namespace
} // namespace regcache::registry

#include "registry/auth/htpasswd.h"

#include <gtest/gtest.h>

namespace regcache::registry {
namespace {

// Written by `htpasswd -nbB alice secret` and `htpasswd -nbs bob hunter2`.
constexpr std::string_view kUsers =
    "alice:$2y$05$pZSLsPFJfDM1vu96Ppoj9O9FaG3jSUe990VvkIuc1BjG1hsbZnNj.\n"
    "# a comment\n"
    "\n"
    "bob:{SHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0=\r\n";

Htpasswd loaded() {
  Htpasswd users;
  std::string error;
  EXPECT_TRUE(users.parse(kUsers, &error)) << error;
  return users;
}

TEST(HtpasswdTest, BcryptEntryAcceptsItsPasswordOnly) {
  const Htpasswd users = loaded();
  EXPECT_TRUE(users.verify("alice", "secret"));
  EXPECT_FALSE(users.verify("alice", "Secret"));
  EXPECT_FALSE(users.verify("alice", ""));
}

TEST(HtpasswdTest, ShaEntryAcceptsItsPasswordOnly) {
  const Htpasswd users = loaded();
  EXPECT_TRUE(users.verify("bob", "hunter2"));
  EXPECT_FALSE(users.verify("bob", "hunter3"));
}

TEST(HtpasswdTest, UnknownUserIsRefused) {
  EXPECT_FALSE(loaded().verify("carol", "secret"));
  EXPECT_EQ(loaded().size(), 2u);
}

TEST(HtpasswdTest, WeakOrUnknownHashFormatsAreRefusedWithTheLine) {
  Htpasswd users;
  std::string error;
  EXPECT_FALSE(users.parse("a:$apr1$abc$defghijklmnopqrstuvwx.\n", &error)); // MD5
  EXPECT_NE(error.find("line 1"), std::string::npos) << error;
  EXPECT_FALSE(users.parse("a:{SHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0=\nb:plain\n", &error));
  EXPECT_NE(error.find("line 2"), std::string::npos) << error;
}

TEST(HtpasswdTest, MalformedAndDuplicateLinesAreErrors) {
  Htpasswd users;
  std::string error;
  EXPECT_FALSE(users.parse("no-colon\n", &error));
  EXPECT_FALSE(users.parse(":{SHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0=\n", &error));
  EXPECT_FALSE(users.parse("b:{SHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0=\n"
                           "b:{SHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0=\n",
                           &error));
  EXPECT_NE(error.find("twice"), std::string::npos) << error;
}

} // namespace
} // namespace regcache::registry

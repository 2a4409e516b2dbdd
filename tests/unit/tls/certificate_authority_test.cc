// The proxy CA: made at the first start (EC P-256, a CA that signs leaves only, key 0600),
// the same one read back at the next, an operator's RSA CA accepted, and every broken state of
// the directory refused with a message naming the file.
#include "tls/certificate_authority.h"

#include <gtest/gtest.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/unit/tls/tls_test_support.h"

namespace regcache::tls {
namespace {

using testing::TempDir;

mode_t mode_of(const std::string &path) {
  struct stat info {};
  EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
  return info.st_mode & 0777;
}

void write_text(const std::string &path, const std::string &text) {
  std::ofstream(path, std::ios::binary) << text;
}

TEST(CertificateAuthority, CreatesAnEcCaThatSignsLeavesOnlyAtTheFirstStart) {
  TempDir temp;
  const std::string dir = temp.path() + "/ca";
  bool created = false;
  std::string error;
  auto ca = CertificateAuthority::load_or_create(dir, &created, &error);
  ASSERT_NE(ca, nullptr) << error;
  EXPECT_TRUE(created);
  EXPECT_EQ(mode_of(dir), 0700u);
  EXPECT_EQ(mode_of(dir + "/ca.key"), 0600u);
  X509 *certificate = ca->certificate();
  EXPECT_EQ(EVP_PKEY_get_base_id(ca->private_key()), EVP_PKEY_EC);
  EXPECT_NE(X509_get_extension_flags(certificate) & EXFLAG_CA, 0u);
  EXPECT_EQ(X509_get_pathlen(certificate), 0);
  EXPECT_EQ(X509_get_key_usage(certificate), uint32_t{KU_KEY_CERT_SIGN | KU_CRL_SIGN});
  EXPECT_NE(X509_get0_subject_key_id(certificate), nullptr);
  char common_name[128] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(certificate), NID_commonName, common_name,
                            sizeof(common_name));
  EXPECT_EQ(std::string(common_name).rfind("regcache CA ", 0), 0u) << common_name;
  // Ten years, give or take the hour it is backdated.
  int days = 0, seconds = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(certificate),
                           X509_get0_notAfter(certificate)),
            1);
  EXPECT_GE(days, 3649);
  EXPECT_LE(days, 3651);
  EXPECT_NE(ca->certificate_pem().find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_EQ(ca->certificate_pem().find("PRIVATE"), std::string::npos);
  EXPECT_NE(ca->description().find("regcache CA"), std::string::npos);
}

TEST(CertificateAuthority, ReadsTheSameCaBackAtTheNextStart) {
  TempDir temp;
  bool created = false;
  std::string error;
  auto first = CertificateAuthority::load_or_create(temp.path(), &created, &error);
  ASSERT_NE(first, nullptr) << error;
  ASSERT_TRUE(created);
  auto second = CertificateAuthority::load_or_create(temp.path(), &created, &error);
  ASSERT_NE(second, nullptr) << error;
  EXPECT_FALSE(created);
  EXPECT_EQ(first->certificate_pem(), second->certificate_pem());
  EXPECT_EQ(EVP_PKEY_eq(first->private_key(), second->private_key()), 1);
}

TEST(CertificateAuthority, AcceptsAnOperatorsRsaCa) {
  TempDir temp;
  testing::write_self_signed(temp.path(), true, "Operator Root");
  bool created = true;
  std::string error;
  auto ca = CertificateAuthority::load_or_create(temp.path(), &created, &error);
  ASSERT_NE(ca, nullptr) << error;
  EXPECT_FALSE(created);
  EXPECT_EQ(EVP_PKEY_get_base_id(ca->private_key()), EVP_PKEY_RSA);
  EXPECT_NE(ca->description().find("Operator Root"), std::string::npos);
}

void expect_refused(const std::string &dir, const std::string &why_part) {
  bool created = false;
  std::string error;
  auto ca = CertificateAuthority::load_or_create(dir, &created, &error);
  EXPECT_EQ(ca, nullptr);
  EXPECT_FALSE(created);
  EXPECT_NE(error.find(why_part), std::string::npos) << error;
  EXPECT_EQ(error.find("BEGIN"), std::string::npos) << error; // never a file's content
}

TEST(CertificateAuthority, RefusesACertificateWithoutItsKey) {
  TempDir temp;
  testing::write_self_signed(temp.path(), true, "Operator Root");
  std::filesystem::remove(temp.path() + "/ca.key");
  expect_refused(temp.path(), "ca.crt exists without");
  EXPECT_FALSE(std::filesystem::exists(temp.path() + "/ca.key")); // and makes no new key
}

TEST(CertificateAuthority, RefusesAKeyWithoutItsCertificate) {
  TempDir temp;
  testing::write_self_signed(temp.path(), true, "Operator Root");
  std::filesystem::remove(temp.path() + "/ca.crt");
  expect_refused(temp.path(), "ca.key exists without");
}

TEST(CertificateAuthority, RefusesACertificateFileThatIsNotPem) {
  TempDir temp;
  testing::write_self_signed(temp.path(), true, "Operator Root");
  write_text(temp.path() + "/ca.crt", "not a certificate\n");
  expect_refused(temp.path(), "cannot read the CA certificate");
}

TEST(CertificateAuthority, RefusesAKeyFileThatIsNotPem) {
  TempDir temp;
  testing::write_self_signed(temp.path(), true, "Operator Root");
  write_text(temp.path() + "/ca.key",
             "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  expect_refused(temp.path(), "cannot read the CA key");
}

TEST(CertificateAuthority, RefusesAKeyThatDoesNotBelongToTheCertificate) {
  TempDir one, other;
  bool created = false;
  std::string error;
  ASSERT_NE(CertificateAuthority::load_or_create(one.path(), &created, &error), nullptr) << error;
  ASSERT_NE(CertificateAuthority::load_or_create(other.path(), &created, &error), nullptr) << error;
  std::filesystem::copy_file(other.path() + "/ca.key", one.path() + "/ca.key",
                             std::filesystem::copy_options::overwrite_existing);
  expect_refused(one.path(), "does not belong to it");
}

TEST(CertificateAuthority, RefusesACertificateThatIsNotACa) {
  TempDir temp;
  testing::write_self_signed(temp.path(), false, "server.example");
  expect_refused(temp.path(), "not a CA certificate");
}

} // namespace
} // namespace regcache::tls

#pragma once
// Shared by the tls/ tests: a temporary directory, run_on_ring (tests/unit/core/run_on_ring.h),
// and certificates made with OpenSSL directly (an operator's own CA, a certificate that is not
// a CA), independent of the code under test.
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

#include "tests/unit/core/run_on_ring.h"

namespace regcache::tls::testing {

class TempDir {
public:
  TempDir() {
    char pattern[] = "/tmp/regcache-tls-test-XXXXXX"; // mkdtemp's template
    if (::mkdtemp(pattern) != nullptr)
      path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty())
      std::filesystem::remove_all(path_, ignored);
  }
  const std::string &path() const { return path_; }

private:
  std::string path_;
};

using core::run_on_ring;

inline bool add_test_extension(X509 *certificate, int nid, const char *value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, certificate, certificate, nullptr, nullptr, 0);
  X509_EXTENSION *extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
  if (extension == nullptr)
    return false;
  X509_add_ext(certificate, extension, -1);
  X509_EXTENSION_free(extension);
  return true;
}

// Writes a self-signed certificate and its key to <dir>/ca.crt and <dir>/ca.key: an RSA 2048
// key, and basicConstraints CA:TRUE when `is_ca` (else CA:FALSE, a server certificate).
inline void write_self_signed(const std::string &dir, bool is_ca, const char *common_name) {
  EVP_PKEY *key = EVP_RSA_gen(2048);
  ASSERT_NE(key, nullptr);
  X509 *certificate = X509_new();
  X509_set_version(certificate, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(certificate), 4242);
  X509_gmtime_adj(X509_getm_notBefore(certificate), -60);
  X509_gmtime_adj(X509_getm_notAfter(certificate), 3600L * 24 * 365);
  X509_set_pubkey(certificate, key);
  X509_NAME *name = X509_get_subject_name(certificate);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char *>(common_name), -1, -1, 0);
  X509_set_issuer_name(certificate, name);
  ASSERT_TRUE(add_test_extension(certificate, NID_basic_constraints,
                                 is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE"));
  ASSERT_GT(X509_sign(certificate, key, EVP_sha256()), 0);
  std::filesystem::create_directories(dir);
  FILE *out = std::fopen((dir + "/ca.crt").c_str(), "w");
  ASSERT_NE(out, nullptr);
  PEM_write_X509(out, certificate);
  std::fclose(out);
  out = std::fopen((dir + "/ca.key").c_str(), "w");
  ASSERT_NE(out, nullptr);
  PEM_write_PrivateKey(out, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(out);
  X509_free(certificate);
  EVP_PKEY_free(key);
}

inline X509 *certificate_from_pem(const std::string &pem) {
  BIO *in = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509 *certificate = PEM_read_bio_X509(in, nullptr, nullptr, nullptr);
  BIO_free(in);
  return certificate;
}

} // namespace regcache::tls::testing

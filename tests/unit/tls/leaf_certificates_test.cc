// Leaf certificates: each verifies against the CA for its host or IP, is valid for at most
// 90 days, has its own serial; a burst of first requests for one host from several rings
// makes one leaf; the cache keeps its bound; names a certificate cannot carry are refused.
#include "tls/leaf_certificates.h"

#include <gtest/gtest.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/ring.h"
#include "tests/unit/tls/tls_test_support.h"

namespace regcache::tls {
namespace {

using testing::run_on_ring;
using testing::TempDir;

class LeafCertificatesTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(ring_.init(core::RingOptions{}, &error)) << error;
    load_ca();
  }

  void load_ca() {
    bool created = false;
    std::string error;
    ca_ = CertificateAuthority::load_or_create(dir_.path(), &created, &error);
    ASSERT_NE(ca_, nullptr) << error;
  }

  std::shared_ptr<const LeafCertificate> get(LeafCertificates &leaves, const std::string &host,
                                             std::string *error) {
    return run_on_ring(ring_, leaves.get(host, error));
  }

  // X509_verify_cert against the CA alone, for a TLS server, then the host or IP check.
  void expect_verifies(const LeafCertificate &leaf, const std::string &host, bool is_ip) {
    X509_STORE *store = X509_STORE_new();
    X509_STORE_add_cert(store, ca_->certificate());
    X509_STORE_CTX *context = X509_STORE_CTX_new();
    ASSERT_EQ(X509_STORE_CTX_init(context, store, leaf.certificate(), nullptr), 1);
    X509_STORE_CTX_set_purpose(context, X509_PURPOSE_SSL_SERVER);
    EXPECT_EQ(X509_verify_cert(context), 1)
        << X509_verify_cert_error_string(X509_STORE_CTX_get_error(context));
    X509_STORE_CTX_free(context);
    X509_STORE_free(store);
    if (is_ip) {
      EXPECT_EQ(X509_check_ip_asc(leaf.certificate(), host.c_str(), 0), 1) << host;
    } else {
      EXPECT_EQ(X509_check_host(leaf.certificate(), host.c_str(), host.size(), 0, nullptr), 1)
          << host;
      EXPECT_NE(X509_check_host(leaf.certificate(), "other.example", 0, 0, nullptr), 1);
    }
    EXPECT_EQ(X509_check_private_key(leaf.certificate(), leaf.private_key()), 1);
  }

  TempDir dir_;
  core::Ring ring_;
  std::shared_ptr<const CertificateAuthority> ca_;
};

TEST_F(LeafCertificatesTest, ALeafForADnsNameVerifiesAgainstTheCa) {
  LeafCertificates leaves(ca_, 16);
  std::string error;
  auto leaf = get(leaves, "registry-1.docker.io", &error);
  ASSERT_NE(leaf, nullptr) << error;
  expect_verifies(*leaf, "registry-1.docker.io", false);
  EXPECT_EQ(EVP_PKEY_get_base_id(leaf->private_key()), EVP_PKEY_EC);
  EXPECT_NE(X509_get_extended_key_usage(leaf->certificate()) & XKU_SSL_SERVER, 0u);
  EXPECT_EQ(X509_get_extension_flags(leaf->certificate()) & EXFLAG_CA, 0u);
  EXPECT_EQ(X509_get_key_usage(leaf->certificate()), uint32_t{KU_DIGITAL_SIGNATURE});
  // The authority key identifier is the CA's subject key identifier.
  const ASN1_OCTET_STRING *authority = X509_get0_authority_key_id(leaf->certificate());
  ASSERT_NE(authority, nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(authority, X509_get0_subject_key_id(ca_->certificate())), 0);
}

TEST_F(LeafCertificatesTest, LeavesForIpv4AndIpv6AddressesCarryThemAsIpNames) {
  LeafCertificates leaves(ca_, 16);
  for (const char *host : {"10.20.30.40", "fd00::17"}) {
    std::string error;
    auto leaf = get(leaves, host, &error);
    ASSERT_NE(leaf, nullptr) << host << ": " << error;
    expect_verifies(*leaf, host, true);
  }
}

TEST_F(LeafCertificatesTest, ALeafIsValidForNinetyDaysAtMost) {
  LeafCertificates leaves(ca_, 16);
  std::string error;
  auto leaf = get(leaves, "ghcr.io", &error);
  ASSERT_NE(leaf, nullptr) << error;
  int days = 0, seconds = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(leaf->certificate()),
                           X509_get0_notAfter(leaf->certificate())),
            1);
  EXPECT_LE(static_cast<int64_t>(days) * 86400 + seconds, int64_t{90} * 86400 + 3600);
  EXPECT_GE(days, 89);
  EXPECT_EQ(X509_cmp_current_time(X509_get0_notBefore(leaf->certificate())), -1);
}

TEST_F(LeafCertificatesTest, SerialsDiffer) {
  LeafCertificates leaves(ca_, 16);
  std::string error;
  auto one = get(leaves, "quay.io", &error);
  auto other = get(leaves, "gcr.io", &error);
  ASSERT_NE(one, nullptr);
  ASSERT_NE(other, nullptr);
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(one->certificate()),
                             X509_get0_serialNumber(other->certificate())),
            0);
}

TEST_F(LeafCertificatesTest, ALeafFromAnOperatorsRsaCaVerifies) {
  TempDir operator_dir;
  testing::write_self_signed(operator_dir.path(), true, "Operator Root");
  bool created = false;
  std::string error;
  ca_ = CertificateAuthority::load_or_create(operator_dir.path(), &created, &error);
  ASSERT_NE(ca_, nullptr) << error;
  LeafCertificates leaves(ca_, 16);
  auto leaf = get(leaves, "registry.k8s.io", &error);
  ASSERT_NE(leaf, nullptr) << error;
  expect_verifies(*leaf, "registry.k8s.io", false);
}

TEST_F(LeafCertificatesTest, ThirtyTwoFirstRequestsFromTwoRingsMakeOneLeaf) {
  LeafCertificates leaves(ca_, 16);
  constexpr int kPerRing = 16;
  std::vector<std::shared_ptr<const LeafCertificate>> results(2 * kPerRing);
  std::atomic<int> failures{0};
  // Each ring starts its 16 gets before running any of them: all 32 ask while none has an
  // answer yet.
  auto ask_from_ring = [&](core::Ring &ring, int first) {
    int done = 0;
    for (int i = 0; i < kPerRing; ++i) {
      core::spawn([](LeafCertificates &leaves, std::shared_ptr<const LeafCertificate> &out,
                     int &done, std::atomic<int> &failures) -> core::Task<void> {
        std::string error;
        out = co_await leaves.get("new.example", &error);
        if (out == nullptr)
          failures++;
        done++;
      }(leaves, results[first + i], done, failures));
    }
    for (int turn = 0; turn < 1000 && done < kPerRing; ++turn)
      ring.run_once(100);
    ASSERT_EQ(done, kPerRing);
  };
  std::thread other([&] {
    core::Ring ring;
    std::string error;
    ASSERT_TRUE(ring.init(core::RingOptions{}, &error)) << error;
    ask_from_ring(ring, kPerRing);
  });
  ask_from_ring(ring_, 0);
  other.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(leaves.minted_total(), 1u);
  for (const auto &leaf : results)
    EXPECT_EQ(leaf, results[0]);
}

TEST_F(LeafCertificatesTest, TheCacheKeepsItsBoundAndDropsTheLeastRecentlyUsed) {
  LeafCertificates leaves(ca_, 2);
  std::string error;
  auto a = get(leaves, "a.example", &error);
  get(leaves, "b.example", &error);
  EXPECT_EQ(get(leaves, "a.example", &error), a); // a is now the most recently used
  get(leaves, "c.example", &error);               // b goes
  EXPECT_EQ(leaves.cached(), 2u);
  EXPECT_EQ(leaves.minted_total(), 3u);
  EXPECT_EQ(get(leaves, "a.example", &error), a);
  EXPECT_EQ(leaves.minted_total(), 3u);
  EXPECT_NE(get(leaves, "b.example", &error), nullptr);
  EXPECT_EQ(leaves.minted_total(), 4u);
  EXPECT_EQ(leaves.cached(), 2u);
}

TEST_F(LeafCertificatesTest, DnsNamesDifferingInCaseShareOneLeaf) {
  LeafCertificates leaves(ca_, 16);
  std::string error;
  auto lower = get(leaves, "docker.io", &error);
  auto upper = get(leaves, "Docker.IO", &error);
  ASSERT_NE(lower, nullptr);
  EXPECT_EQ(lower, upper);
  EXPECT_EQ(leaves.minted_total(), 1u);
}

TEST_F(LeafCertificatesTest, RefusesNamesACertificateCannotCarry) {
  LeafCertificates leaves(ca_, 16);
  const std::string too_long = std::string(250, 'a') + ".com";
  const std::string long_label = std::string(64, 'a') + ".com";
  for (const std::string &host :
       {std::string(), std::string("a..b"), std::string("*.example.com"), std::string("-a.com"),
        std::string("a-.com"), std::string("host:443"), std::string("[::1]"),
        std::string("a_b.com"), std::string("a.com."), std::string("a b"), too_long, long_label,
        std::string("fe80::1%eth0"), std::string("x.com,DNS:y.com")}) {
    std::string error;
    EXPECT_EQ(get(leaves, host, &error), nullptr) << host;
    EXPECT_FALSE(error.empty()) << host;
  }
  EXPECT_EQ(leaves.minted_total(), 0u);
  EXPECT_TRUE(is_valid_leaf_host(std::string(63, 'a') + ".com"));
  EXPECT_TRUE(is_valid_leaf_host("localhost"));
  EXPECT_TRUE(is_valid_leaf_host("::1"));
}

} // namespace
} // namespace regcache::tls

#include "tls/leaf_certificates.h"

#include <arpa/inet.h>
#include <openssl/x509v3.h>

#include <cassert>
#include <cctype>
#include <ctime>

#include "core/unix_time.h"
#include "core/wait_list.h"
#include "tls/certificate_builder.h"
#include "tls/tls_context.h"

namespace regcache::tls {
namespace {

constexpr int64_t kLeafValidityS = 90 * 24 * 3600;
constexpr int64_t kBackdateS = 3600; // a client whose clock is a little behind still accepts it
constexpr size_t kDnsNameBytesMax = 253;
constexpr size_t kDnsLabelBytesMax = 63;
constexpr size_t kCommonNameBytesMax = 64; // RFC 5280 ub-common-name

bool is_ip_literal(std::string_view host) {
  char text[64];
  if (host.size() >= sizeof(text))
    return false;
  host.copy(text, host.size());
  text[host.size()] = '\0';
  unsigned char address[sizeof(in6_addr)];
  return inet_pton(AF_INET, text, address) == 1 || inet_pton(AF_INET6, text, address) == 1;
}

bool is_dns_name(std::string_view host) {
  if (host.empty() || host.size() > kDnsNameBytesMax)
    return false;
  size_t label_bytes = 0;
  char previous = '.';
  for (char c : host) { // bounded by kDnsNameBytesMax
    if (c == '.') {
      if (label_bytes == 0 || previous == '-')
        return false;
      label_bytes = 0;
    } else {
      const bool allowed = std::isalnum(static_cast<unsigned char>(c)) || c == '-';
      if (!allowed || (c == '-' && label_bytes == 0) || ++label_bytes > kDnsLabelBytesMax)
        return false;
    }
    previous = c;
  }
  return label_bytes > 0 && previous != '-';
}

int64_t unix_time_of(const ASN1_TIME *time) {
  struct tm parts {};
  if (ASN1_TIME_to_tm(time, &parts) != 1)
    return 0;
  return static_cast<int64_t>(timegm(&parts));
}

// subjectAltName built as a value rather than from configuration text: the host came from a
// client, and configuration text would give its commas and colons a meaning.
bool add_subject_alt_name(X509 *certificate, const std::string &host, bool is_ip) {
  GENERAL_NAMES *names = GENERAL_NAMES_new();
  GENERAL_NAME *name = GENERAL_NAME_new();
  bool ok = names != nullptr && name != nullptr;
  if (ok && is_ip) {
    ASN1_OCTET_STRING *address = a2i_IPADDRESS(host.c_str());
    ok = address != nullptr;
    if (ok)
      GENERAL_NAME_set0_value(name, GEN_IPADD, address);
  } else if (ok) {
    ASN1_IA5STRING *dns = ASN1_IA5STRING_new();
    ok = dns != nullptr && ASN1_STRING_set(dns, host.data(), static_cast<int>(host.size())) == 1;
    if (ok)
      GENERAL_NAME_set0_value(name, GEN_DNS, dns);
    else
      ASN1_IA5STRING_free(dns);
  }
  if (ok && sk_GENERAL_NAME_push(names, name) > 0) {
    name = nullptr; // names owns it now
    ok = X509_add1_ext_i2d(certificate, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) == 1;
  } else {
    ok = false;
  }
  GENERAL_NAME_free(name);
  GENERAL_NAMES_free(names);
  return ok;
}

std::string lowercase(std::string_view host) {
  std::string lower(host);
  for (char &c : lower) // bounded by the host's length
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

} // namespace

struct LeafCertificates::Minting {
  std::string host;
  core::WaitList waiters; // under LeafCertificates::mutex_
  // Written by the minting thread before it wakes the waiters; read by them afterwards.
  std::shared_ptr<const LeafCertificate> leaf;
  std::string error;
};

bool is_valid_leaf_host(std::string_view host) {
  return is_ip_literal(host) || is_dns_name(host);
}

LeafCertificate::~LeafCertificate() {
  X509_free(certificate_);
  EVP_PKEY_free(private_key_);
}

LeafCertificates::LeafCertificates(std::shared_ptr<const CertificateAuthority> ca,
                                   size_t entries_max)
    : ca_(std::move(ca)), cache_(entries_max) {
  assert(ca_ != nullptr);
  threads_.reserve(kMintingThreads);
  for (unsigned i = 0; i < kMintingThreads; ++i)
    threads_.emplace_back([this] { run_minting_thread(); });
}

LeafCertificates::~LeafCertificates() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (std::thread &thread : threads_)
    thread.join();
  assert(queue_.empty() && mintings_.empty());
}

size_t LeafCertificates::cached() const {
  std::lock_guard lock(mutex_);
  return cache_.size();
}

core::Task<std::shared_ptr<const LeafCertificate>> LeafCertificates::get(std::string_view host,
                                                                         std::string *error) {
  if (!is_valid_leaf_host(host)) {
    *error = "not a DNS name or an IP address: a certificate cannot name it";
    co_return nullptr;
  }
  const std::string key = lowercase(host);
  const int64_t now = core::unix_now_s();
  std::shared_ptr<Minting> minting;
  core::Waiter waiter;
  bool start = false;
  {
    std::lock_guard lock(mutex_);
    if (auto *cached = cache_.find(key); cached != nullptr && now < (*cached)->renew_after_unix_s())
      co_return *cached;
    auto it = mintings_.find(key);
    if (it != mintings_.end()) {
      minting = it->second;
    } else if (mintings_.size() >= kMintingsQueuedMax) {
      *error = "too many certificates are being made at once";
      co_return nullptr;
    } else {
      minting = std::make_shared<Minting>();
      minting->host = key;
      mintings_.emplace(key, minting);
      queue_.push_back(minting);
      start = true;
    }
    waiter.arm();
    minting->waiters.push(waiter);
  }
  if (start)
    work_ready_.notify_one();
  co_await waiter;
  // The minting thread wrote the result before it woke us, and wrote it once.
  if (minting->leaf == nullptr)
    *error = minting->error;
  co_return minting->leaf;
}

void LeafCertificates::run_minting_thread() {
  // Bounded: each turn takes one queued host or ends the thread.
  for (;;) {
    std::shared_ptr<Minting> minting;
    {
      std::unique_lock lock(mutex_);
      work_ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty())
        return; // stopping, and nothing left for a waiter
      minting = std::move(queue_.front());
      queue_.pop_front();
    }
    std::string error;
    std::shared_ptr<const LeafCertificate> leaf = mint(minting->host, &error);
    core::Waiter *waiters = nullptr;
    {
      std::lock_guard lock(mutex_);
      minting->leaf = leaf;
      minting->error = std::move(error);
      if (leaf != nullptr) {
        cache_.find_or_insert(
            minting->host, [](const auto &) { return false; },
            [now = core::unix_now_s()](const std::shared_ptr<const LeafCertificate> &cached) {
              return cached == nullptr || now >= cached->renew_after_unix_s();
            }) = leaf;
      }
      mintings_.erase(minting->host);
      waiters = minting->waiters.take_all();
    }
    core::wake_all(waiters);
  }
}

std::shared_ptr<const LeafCertificate> LeafCertificates::mint(const std::string &host,
                                                              std::string *error) {
  const bool is_ip = is_ip_literal(host);
  EVP_PKEY *key = generate_p256_key(error);
  if (key == nullptr)
    return nullptr;
  X509 *issuer = ca_->certificate();
  X509 *certificate = X509_new();
  const int64_t now = core::unix_now_s();
  // notAfter: 90 days, and never past the CA's own end (a client rejects a chain that outlives
  // its root).
  const int64_t not_after =
      std::min(now + kLeafValidityS, unix_time_of(X509_get0_notAfter(issuer)));
  const int64_t not_before = now - kBackdateS;
  bool ok = certificate != nullptr && X509_set_version(certificate, 2) == 1 &&
            set_random_serial(certificate) &&
            ASN1_TIME_set(X509_getm_notBefore(certificate), static_cast<time_t>(not_before)) &&
            ASN1_TIME_set(X509_getm_notAfter(certificate), static_cast<time_t>(not_after)) &&
            X509_set_pubkey(certificate, key) == 1 &&
            X509_set_issuer_name(certificate, X509_get_subject_name(issuer)) == 1;
  // The CN only when it fits: clients check the SAN, the CN is for people reading it.
  if (ok && host.size() <= kCommonNameBytesMax) {
    ok = X509_NAME_add_entry_by_txt(X509_get_subject_name(certificate), "CN", MBSTRING_ASC,
                                    reinterpret_cast<const unsigned char *>(host.c_str()), -1, -1,
                                    0) == 1;
  }
  ok = ok && add_subject_alt_name(certificate, host, is_ip) &&
       add_extension(certificate, issuer, NID_basic_constraints, "critical,CA:FALSE") &&
       add_extension(certificate, issuer, NID_key_usage, "critical,digitalSignature") &&
       add_extension(certificate, issuer, NID_ext_key_usage, "serverAuth");
  // The issuer's key identifier when it has one; an operator's CA without one is named by its
  // issuer and serial instead.
  ok = ok && (add_extension(certificate, issuer, NID_authority_key_identifier, "keyid:always") ||
              add_extension(certificate, issuer, NID_authority_key_identifier, "issuer:always"));
  ok = ok && X509_sign(certificate, ca_->private_key(), EVP_sha256()) > 0;
  if (!ok) {
    *error = "cannot make a certificate for " + host + ": " + last_error_text();
    X509_free(certificate);
    EVP_PKEY_free(key);
    return nullptr;
  }
  minted_total_.fetch_add(1, std::memory_order_relaxed);
  const int64_t renew_after = not_before + (not_after - not_before) * 2 / 3;
  return std::make_shared<const LeafCertificate>(certificate, key, not_after, renew_after);
}

} // namespace regcache::tls

#pragma once
// Leaf certificates for the hosts proxy mode intercepts, signed by regcache's CA and made on
// demand. Shared by all worker threads: a bounded in-memory cache (least recently used goes
// first) under one short lock, and a few minting threads, so key generation and signing never
// run on a worker. However many connections ask for a new host at once, one leaf is made for
// it; the others wait for that one.
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/lru_map.h"
#include "core/task.h"
#include "tls/certificate_authority.h"

namespace regcache::tls {

// One host's certificate and key. Immutable; the stream that serves it takes its own
// references (SSL_use_certificate), so a leaf evicted from the cache stays valid for them.
class LeafCertificate {
public:
  LeafCertificate(X509 *certificate, EVP_PKEY *private_key, int64_t not_after_unix_s,
                  int64_t renew_after_unix_s)
      : certificate_(certificate), private_key_(private_key), not_after_unix_s_(not_after_unix_s),
        renew_after_unix_s_(renew_after_unix_s) {}
  ~LeafCertificate();
  LeafCertificate(const LeafCertificate &) = delete;
  LeafCertificate &operator=(const LeafCertificate &) = delete;

  X509 *certificate() const { return certificate_; }
  EVP_PKEY *private_key() const { return private_key_; }
  int64_t not_after_unix_s() const { return not_after_unix_s_; }
  // Past this time the cache makes a new one (two thirds of its validity have gone).
  int64_t renew_after_unix_s() const { return renew_after_unix_s_; }

private:
  X509 *const certificate_;
  EVP_PKEY *const private_key_;
  const int64_t not_after_unix_s_;
  const int64_t renew_after_unix_s_;
};

// Is `host` a name a leaf can be made for: a DNS name (letters, digits, hyphens, dots; labels
// of 1-63 characters, 253 at most; no wildcard) or an IPv4/IPv6 literal without brackets.
bool is_valid_leaf_host(std::string_view host);

class LeafCertificates {
public:
  LeafCertificates(std::shared_ptr<const CertificateAuthority> ca, size_t entries_max);
  // Joins the minting threads; nothing may be waiting in get() any more.
  ~LeafCertificates();
  LeafCertificates(const LeafCertificates &) = delete;
  LeafCertificates &operator=(const LeafCertificates &) = delete;

  // The leaf for `host` (a DNS name or an IP literal, no port, no brackets; DNS names are
  // case-insensitive), from the cache or made now off this thread. Null with *error set for a
  // host that is not a valid name, when too many hosts wait for a leaf, or when OpenSSL fails.
  core::Task<std::shared_ptr<const LeafCertificate>> get(std::string_view host, std::string *error);

  uint64_t minted_total() const { return minted_total_.load(std::memory_order_relaxed); }
  size_t cached() const;

  // Threads that make leaves: a P-256 key and a signature take well under a millisecond, so two
  // keep up with any burst of new hosts while leaving the cores to the workers.
  static constexpr unsigned kMintingThreads = 2;
  // Hosts waiting for a leaf at once; beyond, get() fails rather than queue without bound.
  static constexpr size_t kMintingsQueuedMax = 256;

private:
  struct Minting;
  void run_minting_thread();
  std::shared_ptr<const LeafCertificate> mint(const std::string &host, std::string *error);

  const std::shared_ptr<const CertificateAuthority> ca_;
  mutable std::mutex mutex_;
  std::condition_variable work_ready_;
  core::LruMap<std::shared_ptr<const LeafCertificate>> cache_; // under mutex_
  // Hosts whose leaf is being made or waits for a minting thread, under mutex_.
  std::unordered_map<std::string, std::shared_ptr<Minting>> mintings_;
  std::deque<std::shared_ptr<Minting>> queue_; // under mutex_
  bool stopping_ = false;                      // under mutex_
  std::atomic<uint64_t> minted_total_{0};
  std::vector<std::thread> threads_;
};

} // namespace regcache::tls

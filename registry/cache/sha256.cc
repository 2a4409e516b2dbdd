#include "registry/cache/sha256.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace regcache::registry {

namespace {

[[noreturn]] void die_openssl(const char *what) {
  std::fprintf(stderr, "regcache: OpenSSL %s failed\n", what);
  ERR_print_errors_fp(stderr);
  std::abort();
}

// Fetched once: EVP_MD_fetch looks the algorithm up in the provider store, which is too slow
// to repeat per blob. Never freed on purpose: freeing it from a static destructor could run
// after OpenSSL's own atexit cleanup.
const EVP_MD *sha256_algorithm() {
  static const EVP_MD *const algorithm = [] {
    EVP_MD *fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (fetched == nullptr)
      die_openssl("EVP_MD_fetch(SHA256)");
    return fetched;
  }();
  return algorithm;
}

} // namespace

Sha256::Sha256() : context_(EVP_MD_CTX_new()) {
  if (context_ == nullptr)
    die_openssl("EVP_MD_CTX_new");
  reset();
}

Sha256::~Sha256() {
  EVP_MD_CTX_free(context_);
}

Sha256::Sha256(Sha256 &&other) noexcept : context_(std::exchange(other.context_, nullptr)) {}

Sha256 &Sha256::operator=(Sha256 &&other) noexcept {
  if (this != &other) {
    EVP_MD_CTX_free(context_);
    context_ = std::exchange(other.context_, nullptr);
  }
  return *this;
}

void Sha256::reset() {
  assert(context_ != nullptr && "use of a moved-from Sha256");
  if (EVP_DigestInit_ex2(context_, sha256_algorithm(), nullptr) != 1) {
    die_openssl("EVP_DigestInit_ex2");
  }
}

void Sha256::update(std::span<const char> bytes) {
  assert(context_ != nullptr && "use of a moved-from Sha256");
  if (bytes.empty())
    return;
  if (EVP_DigestUpdate(context_, bytes.data(), bytes.size()) != 1) {
    die_openssl("EVP_DigestUpdate");
  }
}

Digest Sha256::finish() {
  assert(context_ != nullptr && "use of a moved-from Sha256");
  static_assert(kSha256Bytes <= EVP_MAX_MD_SIZE);
  Digest digest{};
  unsigned int written_bytes = 0;
  if (EVP_DigestFinal_ex(context_, digest.bytes.data(), &written_bytes) != 1) {
    die_openssl("EVP_DigestFinal_ex");
  }
  assert(written_bytes == kSha256Bytes);
  reset();
  return digest;
}

Digest sha256_of(std::span<const char> bytes) {
  Sha256 hasher;
  hasher.update(bytes);
  return hasher.finish();
}

} // namespace regcache::registry

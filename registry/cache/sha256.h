#pragma once

#include <openssl/types.h>

#include <span>

#include "registry/api/digest.h"

namespace regcache::registry {

// Incremental sha256 over OpenSSL 3 EVP. The algorithm is fetched once per process and the
// EVP_MD_CTX is reused across digests, so hashing a blob allocates only at construction.
// OpenSSL failing here means memory exhaustion or a broken installation: the process aborts
// with a message, as it would on a failed operator new.
class Sha256 {
public:
  Sha256();
  ~Sha256();
  Sha256(Sha256 &&other) noexcept;
  Sha256 &operator=(Sha256 &&other) noexcept;
  Sha256(const Sha256 &) = delete;
  Sha256 &operator=(const Sha256 &) = delete;

  void update(std::span<const char> bytes);
  // Returns the digest of everything updated since construction or the last reset/finish,
  // and leaves the object reset, ready for the next input.
  Digest finish();
  // Discards the input so far.
  void reset();

private:
  EVP_MD_CTX *context_;
};

Digest sha256_of(std::span<const char> bytes);

} // namespace regcache::registry

#pragma once
// regcache's own certificate authority for proxy mode: it signs the leaf certificates that
// terminate a client's TLS for an intercepted registry host. Generated at the first start into
// the CA directory and reused afterwards; the operator may put their own CA (RSA or EC) there.
// Immutable once loaded, so every worker and the minting threads read it without a lock.
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstdint>
#include <memory>
#include <string>

namespace regcache::tls {

class CertificateAuthority {
public:
  // Reads <dir>/ca.crt and <dir>/ca.key (PEM). When neither exists, creates `dir` (mode 0700)
  // and a new ECDSA P-256 CA in it, and sets *created. Null with *error set when one file is
  // there without the other, a file cannot be read or parsed, the key does not match the
  // certificate, or the certificate is not a CA that may sign certificates. The error never
  // contains key material.
  static std::unique_ptr<CertificateAuthority> load_or_create(const std::string &dir, bool *created,
                                                              std::string *error);
  ~CertificateAuthority();
  CertificateAuthority(const CertificateAuthority &) = delete;
  CertificateAuthority &operator=(const CertificateAuthority &) = delete;

  // The certificate in PEM, for the /ca.crt endpoint.
  const std::string &certificate_pem() const { return certificate_pem_; }
  // For signing leaves: the issuer's name, key identifier and validity come from here.
  X509 *certificate() const { return certificate_; }
  EVP_PKEY *private_key() const { return private_key_; }
  // One line for the start-up log: the subject and when it expires.
  std::string description() const;

private:
  CertificateAuthority(X509 *certificate, EVP_PKEY *private_key, std::string certificate_pem)
      : certificate_(certificate), private_key_(private_key),
        certificate_pem_(std::move(certificate_pem)) {}

  X509 *certificate_;
  EVP_PKEY *private_key_;
  std::string certificate_pem_;
};

} // namespace regcache::tls

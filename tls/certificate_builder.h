#pragma once
// The steps the CA and the leaf certificates share when they make a certificate: a P-256 key,
// a random serial, an extension from its OpenSSL configuration text, PEM text.
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <string>

namespace regcache::tls {

// A new ECDSA P-256 key; null (with the OpenSSL error in *error) when OpenSSL fails.
EVP_PKEY *generate_p256_key(std::string *error);
// 128 random bits, positive (RFC 5280 section 4.1.2.2: at most 20 octets, non-negative), so
// serials never repeat in practice whatever the number of leaves.
bool set_random_serial(X509 *certificate);
// Adds the extension `nid` written as OpenSSL's configuration text (`value`, our own constant
// text, never a client's), with `issuer` for the key identifier extensions.
bool add_extension(X509 *certificate, X509 *issuer, int nid, const char *value);
std::string certificate_to_pem(X509 *certificate);

} // namespace regcache::tls

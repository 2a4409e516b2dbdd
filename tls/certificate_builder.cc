#include "tls/certificate_builder.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "tls/tls_context.h"

namespace regcache::tls {

EVP_PKEY *generate_p256_key(std::string *error) {
  EVP_PKEY *key = EVP_EC_gen("P-256");
  if (key == nullptr)
    *error = "cannot generate a P-256 key: " + last_error_text();
  return key;
}

bool set_random_serial(X509 *certificate) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1)
    return false;
  bytes[0] &= 0x7f; // positive in DER without a leading zero octet
  bytes[0] |= 0x40; // never zero, and always 16 octets long
  BIGNUM *number = BN_bin2bn(bytes, sizeof(bytes), nullptr);
  if (number == nullptr)
    return false;
  ASN1_INTEGER *serial = BN_to_ASN1_INTEGER(number, nullptr);
  BN_free(number);
  if (serial == nullptr)
    return false;
  bool ok = X509_set_serialNumber(certificate, serial) == 1;
  ASN1_INTEGER_free(serial);
  return ok;
}

bool add_extension(X509 *certificate, X509 *issuer, int nid, const char *value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, certificate, nullptr, nullptr, 0);
  X509_EXTENSION *extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
  if (extension == nullptr)
    return false;
  bool ok = X509_add_ext(certificate, extension, -1) == 1;
  X509_EXTENSION_free(extension);
  return ok;
}

std::string certificate_to_pem(X509 *certificate) {
  BIO *out = BIO_new(BIO_s_mem());
  std::string pem;
  if (out != nullptr && PEM_write_bio_X509(out, certificate) == 1) {
    char *data = nullptr;
    long length = BIO_get_mem_data(out, &data);
    pem.assign(data, static_cast<size_t>(length));
  }
  BIO_free(out);
  return pem;
}

} // namespace regcache::tls

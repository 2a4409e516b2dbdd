#include "tls/certificate_authority.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "tls/certificate_builder.h"
#include "tls/tls_context.h"

namespace regcache::tls {
namespace {

constexpr long kCaValidityDays = 3650;

bool file_exists(const std::string &path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0;
}

// Writes `bytes` to `path` with `mode` through a temporary file renamed over it, so a crash
// never leaves half a key (or a key readable by others for a moment) behind.
bool write_file_atomically(const std::string &path, const char *bytes, size_t length, mode_t mode,
                           std::string *error) {
  const std::string temporary = fmt::format("{}.tmp.{}", path, ::getpid());
  ::unlink(temporary.c_str()); // a leftover of a crashed start; O_EXCL below refuses it else
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    *error = fmt::format("cannot create {}: {}", temporary, std::strerror(errno));
    return false;
  }
  size_t written = 0;
  while (written < length) { // bounded: each turn writes bytes or fails
    ssize_t n = ::write(fd, bytes + written, length - written);
    if (n <= 0) {
      if (n < 0 && errno == EINTR)
        continue;
      break;
    }
    written += static_cast<size_t>(n);
  }
  bool ok = written == length && ::fsync(fd) == 0;
  int saved_errno = errno;
  ::close(fd);
  if (!ok || ::rename(temporary.c_str(), path.c_str()) != 0) {
    if (ok)
      saved_errno = errno;
    ::unlink(temporary.c_str());
    *error = fmt::format("cannot write {}: {}", path, std::strerror(saved_errno));
    return false;
  }
  return true;
}

std::string local_hostname() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0')
    return "localhost";
  return name;
}

// A new self-signed CA certificate for `key`.
X509 *make_ca_certificate(EVP_PKEY *key, std::string *error) {
  X509 *certificate = X509_new();
  bool ok =
      certificate != nullptr && X509_set_version(certificate, 2) == 1 &&
      set_random_serial(certificate) &&
      X509_gmtime_adj(X509_getm_notBefore(certificate), -3600) != nullptr &&
      X509_time_adj_ex(X509_getm_notAfter(certificate), kCaValidityDays, 0, nullptr) != nullptr &&
      X509_set_pubkey(certificate, key) == 1;
  if (ok) {
    // CN at most 64 characters (RFC 5280 ub-common-name): a long host name is cut.
    std::string common_name = "regcache CA " + local_hostname();
    common_name.resize(std::min<size_t>(common_name.size(), 64));
    X509_NAME *name = X509_get_subject_name(certificate);
    ok = X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                    reinterpret_cast<const unsigned char *>(common_name.c_str()),
                                    -1, -1, 0) == 1 &&
         X509_set_issuer_name(certificate, name) == 1;
  }
  // pathlen 0: this CA signs leaves only, never another CA.
  ok = ok &&
       add_extension(certificate, certificate, NID_basic_constraints,
                     "critical,CA:TRUE,pathlen:0") &&
       add_extension(certificate, certificate, NID_key_usage, "critical,keyCertSign,cRLSign") &&
       add_extension(certificate, certificate, NID_subject_key_identifier, "hash") &&
       X509_sign(certificate, key, EVP_sha256()) > 0;
  if (!ok) {
    *error = "cannot make the CA certificate: " + last_error_text();
    X509_free(certificate);
    return nullptr;
  }
  return certificate;
}

bool create_ca(const std::string &dir, const std::string &certificate_path,
               const std::string &key_path, std::string *error) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    *error = fmt::format("cannot create the CA directory {}: {}", dir, std::strerror(errno));
    return false;
  }
  EVP_PKEY *key = generate_p256_key(error);
  if (key == nullptr)
    return false;
  X509 *certificate = make_ca_certificate(key, error);
  BIO *key_out = BIO_new(BIO_s_mem());
  bool ok = certificate != nullptr && key_out != nullptr &&
            PEM_write_bio_PrivateKey(key_out, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  if (certificate != nullptr && !ok)
    *error = "cannot encode the CA key: " + last_error_text();
  if (ok) {
    char *key_pem = nullptr;
    long key_length = BIO_get_mem_data(key_out, &key_pem);
    std::string certificate_pem = certificate_to_pem(certificate);
    // The key first: a crash between the two renames leaves a key without a certificate,
    // which the next start reports rather than silently making a second CA.
    ok = write_file_atomically(key_path, key_pem, static_cast<size_t>(key_length), 0600, error) &&
         write_file_atomically(certificate_path, certificate_pem.data(), certificate_pem.size(),
                               0644, error);
    OPENSSL_cleanse(key_pem, static_cast<size_t>(key_length));
  }
  BIO_free(key_out);
  X509_free(certificate);
  EVP_PKEY_free(key);
  return ok;
}

// Why `certificate` cannot serve as our CA, or empty when it can.
std::string unusable_ca_reason(X509 *certificate) {
  // EXFLAG_CA: basicConstraints says CA:TRUE (X509_check_ca alone also accepts v1 roots).
  if ((X509_get_extension_flags(certificate) & EXFLAG_CA) == 0)
    return "it is not a CA certificate (basicConstraints CA:TRUE is missing)";
  // X509_get_key_usage is all ones when the extension is absent, which permits signing.
  if ((X509_get_key_usage(certificate) & KU_KEY_CERT_SIGN) == 0)
    return "its keyUsage does not allow signing certificates (keyCertSign)";
  if (X509_cmp_current_time(X509_get0_notAfter(certificate)) <= 0)
    return "it has expired";
  return {};
}

} // namespace

std::unique_ptr<CertificateAuthority>
CertificateAuthority::load_or_create(const std::string &dir, bool *created, std::string *error) {
  *created = false;
  const std::string certificate_path = dir + "/ca.crt";
  const std::string key_path = dir + "/ca.key";
  const bool have_certificate = file_exists(certificate_path);
  const bool have_key = file_exists(key_path);
  if (have_certificate != have_key) {
    *error = fmt::format("{} exists without {}: put both files of the CA there, or neither "
                         "(regcache then makes a new CA)",
                         have_certificate ? certificate_path : key_path,
                         have_certificate ? key_path : certificate_path);
    return nullptr;
  }
  if (!have_certificate) {
    if (!create_ca(dir, certificate_path, key_path, error))
      return nullptr;
    *created = true;
  }
  BIO *certificate_in = BIO_new_file(certificate_path.c_str(), "r");
  X509 *certificate =
      certificate_in ? PEM_read_bio_X509(certificate_in, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(certificate_in);
  if (certificate == nullptr) {
    *error =
        fmt::format("cannot read the CA certificate {}: {}", certificate_path, last_error_text());
    return nullptr;
  }
  BIO *key_in = BIO_new_file(key_path.c_str(), "r");
  // A passphrase callback that gives none: an encrypted key fails instead of prompting.
  pem_password_cb *no_passphrase = [](char *, int, int, void *) { return 0; };
  EVP_PKEY *key =
      key_in ? PEM_read_bio_PrivateKey(key_in, nullptr, no_passphrase, nullptr) : nullptr;
  BIO_free(key_in);
  if (key == nullptr) {
    ERR_clear_error(); // OpenSSL's text may quote the file's bytes: say only what failed
    *error = fmt::format("cannot read the CA key {} (a PEM private key without a passphrase "
                         "is needed)",
                         key_path);
    X509_free(certificate);
    return nullptr;
  }
  std::string reason;
  if (X509_check_private_key(certificate, key) != 1) {
    ERR_clear_error();
    reason = "the key in " + key_path + " does not belong to it";
  } else {
    reason = unusable_ca_reason(certificate);
  }
  if (!reason.empty()) {
    *error = fmt::format("cannot use {} as the proxy CA: {}", certificate_path, reason);
    X509_free(certificate);
    EVP_PKEY_free(key);
    return nullptr;
  }
  std::string pem = certificate_to_pem(certificate);
  return std::unique_ptr<CertificateAuthority>(
      new CertificateAuthority(certificate, key, std::move(pem)));
}

CertificateAuthority::~CertificateAuthority() {
  X509_free(certificate_);
  EVP_PKEY_free(private_key_);
}

std::string CertificateAuthority::description() const {
  char subject[256] = {};
  X509_NAME_oneline(X509_get_subject_name(certificate_), subject, sizeof(subject) - 1);
  std::string expires;
  BIO *out = BIO_new(BIO_s_mem());
  if (out != nullptr && ASN1_TIME_print(out, X509_get0_notAfter(certificate_)) == 1) {
    char *data = nullptr;
    long length = BIO_get_mem_data(out, &data);
    expires.assign(data, static_cast<size_t>(length));
  }
  BIO_free(out);
  return fmt::format("{}, expires {}", subject, expires);
}

} // namespace regcache::tls

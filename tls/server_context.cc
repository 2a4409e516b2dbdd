#include "tls/server_context.h"

#include <fmt/format.h>

#include <openssl/err.h>

#include "tls/tls_context.h"

namespace regcache::tls {
namespace {

// TLS 1.2 suites: forward secrecy and AEAD only (Mozilla's "intermediate" list). TLS 1.3 keeps
// OpenSSL's default suites, which are all of that kind.
constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// Picks http/1.1 when the client offers it. A client offering only h2 gets no ALPN at all
// (RFC 7301 section 3.2 would have us fail the handshake; Go's clients accept no ALPN and fall
// back to HTTP/1.1, which is all regcache speaks).
int select_http11(SSL *, const unsigned char **out, unsigned char *out_length,
                  const unsigned char *offered, unsigned int offered_length, void *) {
  static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char *selected = nullptr;
  if (SSL_select_next_proto(&selected, out_length, kHttp11, sizeof(kHttp11), offered,
                            offered_length) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// The host_name of a server_name extension (RFC 6066 section 3), or empty.
std::string host_name_of(const unsigned char *data, size_t length) {
  if (length < 2 || static_cast<size_t>(data[0] << 8 | data[1]) != length - 2)
    return {};
  size_t at = 2;
  while (at + 3 <= length) { // bounded: each turn moves past one entry
    const unsigned type = data[at];
    const size_t name_length = static_cast<size_t>(data[at + 1] << 8 | data[at + 2]);
    at += 3;
    if (at + name_length > length)
      return {};
    if (type == TLSEXT_NAMETYPE_host_name)
      return std::string(reinterpret_cast<const char *>(data + at), name_length);
    at += name_length;
  }
  return {};
}

// A stream made without a certificate (tls_stream.h, receive_client_hello) pauses its handshake
// here so its owner can pick the leaf for the name the client asked for; the SNI name goes to
// the std::string the stream set as the SSL's app data. With a certificate the handshake goes
// on.
int on_client_hello(SSL *ssl, int *, void *) {
  if (SSL_get_certificate(ssl) != nullptr)
    return SSL_CLIENT_HELLO_SUCCESS;
  auto *server_name = static_cast<std::string *>(SSL_get_app_data(ssl));
  const unsigned char *data = nullptr;
  size_t length = 0;
  if (server_name != nullptr &&
      SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &data, &length) == 1)
    *server_name = host_name_of(data, length);
  return SSL_CLIENT_HELLO_RETRY;
}

SSL_CTX *new_server_ctx(std::string *error) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) {
    *error = "SSL_CTX_new: " + last_error_text();
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
    *error = "cannot set the TLS 1.2 cipher list: " + last_error_text();
    SSL_CTX_free(ctx);
    return nullptr;
  }
  SSL_CTX_set_alpn_select_cb(ctx, select_http11, nullptr);
  SSL_CTX_set_client_hello_cb(ctx, on_client_hello, nullptr);
  // Resumption: tickets (OpenSSL's default, keys made per context at start) for clients that
  // take them, and a bounded cache of TLS 1.2 session IDs for those that do not.
  static const unsigned char kSessionIdContext[] = "regcache-proxy";
  SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof(kSessionIdContext) - 1);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_sess_set_cache_size(ctx, ServerContext::kSessionCacheEntriesMax);
  SSL_CTX_set_timeout(ctx, ServerContext::kSessionLifetimeS);
  // One ticket per full handshake, not the default two: a client reuses one per host.
  SSL_CTX_set_num_tickets(ctx, 1);
  // Memory per idle connection: OpenSSL frees a session's record buffers whenever they are
  // empty, so a connection waiting for its next request holds none. A file range sent
  // through the stream turns this off while it runs (tls_stream.cc), so a blob does not
  // allocate a buffer per record.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  // Fewer, larger copies out of the memory BIO (as for the client context).
  SSL_CTX_set_read_ahead(ctx, 1);
  // An encrypted key file fails to load instead of prompting on the daemon's terminal.
  SSL_CTX_set_default_passwd_cb(ctx, [](char *, int, int, void *) { return 0; });
  return ctx;
}

} // namespace

std::unique_ptr<ServerContext> ServerContext::create(std::string *error) {
  SSL_CTX *ctx = new_server_ctx(error);
  if (ctx == nullptr)
    return nullptr;
  return std::unique_ptr<ServerContext>(new ServerContext(ctx, false));
}

std::unique_ptr<ServerContext>
ServerContext::create_with_certificate(const std::string &certificate_file,
                                       const std::string &key_file, std::string *error) {
  SSL_CTX *ctx = new_server_ctx(error);
  if (ctx == nullptr)
    return nullptr;
  if (SSL_CTX_use_certificate_chain_file(ctx, certificate_file.c_str()) != 1) {
    *error = fmt::format("cannot read the certificate {}: {}", certificate_file, last_error_text());
    SSL_CTX_free(ctx);
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error(); // never quote the key file
    *error = fmt::format("cannot use the key {} with {} (a PEM key without a passphrase that "
                         "belongs to the certificate is needed)",
                         key_file, certificate_file);
    SSL_CTX_free(ctx);
    return nullptr;
  }
  return std::unique_ptr<ServerContext>(new ServerContext(ctx, true));
}

ServerContext::~ServerContext() {
  SSL_CTX_free(ctx_);
}

} // namespace regcache::tls

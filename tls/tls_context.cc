#include "tls/tls_context.h"

#include <fmt/format.h>
#include <openssl/err.h>

namespace regcache::tls {
namespace {

// OpenSSL's receive buffer per session: four full records.
constexpr size_t kRecordBufferBytes = 4 * (16 * 1024 + 512);

} // namespace

std::string last_error_text() {
  unsigned long code = ERR_get_error();
  if (code == 0)
    return "unknown TLS error";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  ERR_clear_error();
  return text;
}

std::unique_ptr<ClientContext> ClientContext::create(const ClientContextOptions &options,
                                                     std::string *error) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) {
    *error = "SSL_CTX_new: " + last_error_text();
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // Upstream sessions are pooled and reused by HTTP keep-alive; resumption on reconnect saves
  // a full handshake per new pooled connection.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT);
  // Downloads: a read takes many records (tls_stream.cc). With read-ahead OpenSSL moves the
  // received ciphertext from the memory BIO into its record buffer in large copies, several
  // records each, instead of a 5-byte header then a body per record. SSL_MODE_RELEASE_BUFFERS
  // stays off on purpose: it frees the record buffers whenever they empty, which is between
  // any two reads of a download, so every read would allocate them again.
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_default_read_buffer_len(ctx, kRecordBufferBytes);
  static const unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof(kAlpn));
  if (options.verify_peer) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    int ok = options.ca_file.empty()
                 ? SSL_CTX_set_default_verify_paths(ctx)
                 : SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr);
    if (ok != 1) {
      *error = options.ca_file.empty() ? "cannot load the system CA store: " + last_error_text()
                                       : fmt::format("cannot load CA file '{}': {}",
                                                     options.ca_file, last_error_text());
      SSL_CTX_free(ctx);
      return nullptr;
    }
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  return std::unique_ptr<ClientContext>(new ClientContext(ctx, options.verify_peer));
}

ClientContext::~ClientContext() {
  SSL_CTX_free(ctx_);
}

} // namespace regcache::tls

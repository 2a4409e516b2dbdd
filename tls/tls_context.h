#pragma once
// OpenSSL client contexts for upstream registries: the system trust store or a configured CA
// file, certificate and host name verified unless the operator explicitly disables it.
#include <openssl/ssl.h>

#include <memory>
#include <string>

namespace regcache::tls {

struct ClientContextOptions {
  std::string ca_file;     // empty: the system store
  bool verify_peer = true; // false only with --insecure-upstream
};

class ClientContext {
public:
  static std::unique_ptr<ClientContext> create(const ClientContextOptions &options,
                                               std::string *error);
  ~ClientContext();
  ClientContext(const ClientContext &) = delete;
  ClientContext &operator=(const ClientContext &) = delete;

  SSL_CTX *get() const { return ctx_; }
  bool verify_peer() const { return verify_peer_; }

private:
  ClientContext(SSL_CTX *ctx, bool verify_peer) : ctx_(ctx), verify_peer_(verify_peer) {}
  SSL_CTX *ctx_;
  bool verify_peer_;
};

// The last OpenSSL error as text, for logs (never contains secrets).
std::string last_error_text();

} // namespace regcache::tls

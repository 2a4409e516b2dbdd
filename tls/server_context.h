#pragma once
// The OpenSSL context of the server side of proxy mode, shared by every client connection of
// every worker (an SSL_CTX is safe to share once set up): TLS 1.2 and later, ALPN http/1.1,
// session resumption by tickets and a bounded session cache. The certificate is normally the
// leaf each stream is given (tls_stream.h); create_with_certificate sets a fixed one instead.
#include <openssl/ssl.h>

#include <memory>
#include <string>

namespace regcache::tls {

class ServerContext {
public:
  static std::unique_ptr<ServerContext> create(std::string *error);
  // With the certificate chain and key of `certificate_file` / `key_file` (PEM) for every
  // connection: the proxy port's own certificate (an "HTTPS proxy").
  static std::unique_ptr<ServerContext> create_with_certificate(const std::string &certificate_file,
                                                                const std::string &key_file,
                                                                std::string *error);
  ~ServerContext();
  ServerContext(const ServerContext &) = delete;
  ServerContext &operator=(const ServerContext &) = delete;

  SSL_CTX *get() const { return ctx_; }
  bool has_certificate() const { return has_certificate_; }

  // Sessions the server cache holds at most (TLS 1.2 session IDs; TLS 1.3 and tickets keep no
  // server state).
  static constexpr long kSessionCacheEntriesMax = 4096;
  static constexpr long kSessionLifetimeS = 2 * 3600;

private:
  ServerContext(SSL_CTX *ctx, bool has_certificate)
      : ctx_(ctx), has_certificate_(has_certificate) {}
  SSL_CTX *ctx_;
  bool has_certificate_;
};

} // namespace regcache::tls

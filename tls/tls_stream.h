#pragma once
// A TLS client session driven over the ring: OpenSSL works on memory BIOs, and this class moves
// the ciphertext between those BIOs and the socket with ring recv/send. OpenSSL never touches
// the socket, so nothing blocks the worker.
#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>

#include "core/byte_stream.h"
#include "tls/tls_context.h"

namespace regcache::tls {

class TlsStream final : public core::ByteStream {
public:
  // `server_name` is used for SNI (DNS names only) and for certificate host/IP verification.
  TlsStream(const ClientContext &context, int fd, std::string_view server_name);
  ~TlsStream() override;
  TlsStream(const TlsStream &) = delete;
  TlsStream &operator=(const TlsStream &) = delete;

  // 0 on success; on failure -EPROTO and error_text() says why (e.g. certificate verify failed).
  core::Task<int> handshake(uint32_t timeout_ms);
  // Fills `buffer` with as much plaintext as the ciphertext received so far decrypts to, waiting
  // for the socket only while that is nothing: one call may return many TLS records.
  core::Task<int> read(std::span<char> buffer, uint32_t timeout_ms) override;
  core::Task<int> write_all(std::span<const char> bytes, uint32_t timeout_ms) override;
  int fd() const override { return fd_; }
  const std::string &error_text() const { return error_text_; }

private:
  core::Task<int> flush_ciphertext(uint32_t timeout_ms);
  // One recv into network_in_: > 0 bytes, or -errno (-ECONNRESET when the peer closed TCP).
  core::Task<int> receive_ciphertext(uint32_t timeout_ms);
  void note_error(int ssl_result);

  SSL *ssl_ = nullptr;
  BIO *network_in_ = nullptr;  // ciphertext from the socket, read by OpenSSL
  BIO *network_out_ = nullptr; // ciphertext written by OpenSSL, sent to the socket
  int fd_;
  std::string error_text_;
  bool failed_ = false; // a read failed after returning bytes: later reads fail
  // Ciphertext to and from the socket. Large, so a download over TLS takes about as few ring
  // round trips as over plain TCP: a recv brings up to 16 records rather than one (review
  // §2.8). Allocated with the stream, which lives as long as its pooled connection.
  static constexpr size_t kCiphertextBytes = 256 * 1024;
  std::unique_ptr<char[]> ciphertext_;
};

} // namespace regcache::tls

#pragma once
// A TLS session driven over the ring, client (upstreams) or server (proxy mode's intercepted
// connections): OpenSSL works on memory BIOs, and this class moves the ciphertext between those
// BIOs and the socket with ring recv/send. OpenSSL never touches the socket, so nothing blocks
// the worker.
#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>

#include "core/byte_stream.h"
#include "tls/server_context.h"
#include "tls/tls_context.h"

namespace regcache::tls {

class LeafCertificate;

class TlsStream final : public core::ByteStream {
public:
  // `server_name` is used for SNI (DNS names only) and for certificate host/IP verification.
  TlsStream(const ClientContext &context, int fd, std::string_view server_name);
  // The server side of a client's connection, presenting `leaf` (the stream takes its own
  // references to the certificate and key: the leaf may leave the cache meanwhile).
  TlsStream(const ServerContext &context, int fd, const LeafCertificate &leaf);
  // The server side with the context's own certificate (create_with_certificate), or, with a
  // context without one, a stream whose leaf is chosen from the ClientHello:
  // receive_client_hello(), then use_leaf(), then handshake().
  TlsStream(const ServerContext &context, int fd);
  ~TlsStream() override;
  TlsStream(const TlsStream &) = delete;
  TlsStream &operator=(const TlsStream &) = delete;

  // 0 on success; on failure -EPROTO and error_text() says why (e.g. certificate verify failed),
  // -ETIME when the whole handshake took longer than timeout_ms, -ECONNRESET when the peer
  // closed. A peer sending garbage or nothing ends in one of those, never a hang.
  core::Task<int> handshake(uint32_t timeout_ms);
  // Fills `buffer` with as much plaintext as the ciphertext received so far decrypts to, waiting
  // for the socket only while that is nothing: one call may return many TLS records.
  core::Task<int> read(std::span<char> buffer, uint32_t timeout_ms) override;
  core::Task<int> write_all(std::span<const char> bytes, uint32_t timeout_ms) override;
  int fd() const override { return fd_; }
  const std::string &error_text() const { return error_text_; }

  // For a server stream without a certificate: receives the ClientHello and pauses the
  // handshake there. 0 with *server_name set to the SNI host name (empty when the client sent
  // none: an IP address, say), else as handshake(). Within the same timeout rules.
  core::Task<int> receive_client_hello(uint32_t timeout_ms, std::string *server_name);
  // The certificate to answer with, before handshake() (after receive_client_hello()).
  void use_leaf(const LeafCertificate &leaf);

  // `bytes` of `file_fd` from `offset` through the session: file reads on the ring into a
  // plaintext buffer, SSL_write, the ciphertext sent in large sends. 0 when all were sent, else
  // -errno (-EIO: the file ended first). *bytes_sent grows by the plaintext bytes handed to the
  // socket. The buffers (kTransferChunkBytes of plaintext and about as much ciphertext) are
  // taken by the first range and kept until release_idle_buffers().
  core::Task<int> send_file_range(int file_fd, uint64_t offset, uint64_t bytes, uint32_t timeout_ms,
                                  uint64_t *bytes_sent);
  // Plaintext OpenSSL has decrypted, or ciphertext received and not yet decrypted: a read()
  // returns without waiting for the socket, so a reader must not wait on the socket first.
  bool has_buffered_plaintext() const;

  // Between requests (the caller knows when): frees the receive and transfer buffers, so an idle
  // connection holds only OpenSSL's session state; the next read waits for the socket with a poll
  // and takes a buffer again when bytes arrive. One extra ring operation per idle wait, none while
  // a request is being read.
  void release_idle_buffers();

  // A server stream's receive buffer: requests are small, and thousands of client connections
  // may be open, so it is one record (a client stream keeps 256 KiB for downloads).
  static constexpr size_t kServerCiphertextBytes = 16 * 1024 + 512;
  static constexpr size_t kTransferChunkBytes = 256 * 1024;
  // The ciphertext of one chunk (16 records, each with its header and tag), sent in one send: a
  // 200 MiB blob takes 800 sends.
  static constexpr size_t kTransferCiphertextBytes =
      kTransferChunkBytes + (kTransferChunkBytes / (16 * 1024) + 1) * 64;

private:
  core::Task<int> flush_ciphertext(uint32_t timeout_ms);
  // One recv into network_in_: > 0 bytes, or -errno (-ECONNRESET when the peer closed TCP).
  core::Task<int> receive_ciphertext(uint32_t timeout_ms);
  void note_error(int ssl_result);
  core::Task<int> drive_handshake(uint32_t timeout_ms, bool stop_at_client_hello);
  // Sends what OpenSSL queued through `buffer` (a transfer's own, larger than ciphertext_).
  core::Task<int> flush_ciphertext_through(std::span<char> buffer, uint32_t timeout_ms);
  void set_up_bios();
  void use_server_certificate(X509 *certificate, EVP_PKEY *private_key);

  SSL *ssl_ = nullptr;
  BIO *network_in_ = nullptr;  // ciphertext from the socket, read by OpenSSL
  BIO *network_out_ = nullptr; // ciphertext written by OpenSSL, sent to the socket
  int fd_;
  std::string error_text_;
  std::string server_name_; // the ClientHello's SNI name (server streams without a leaf)
  bool failed_ = false;     // a read failed after returning bytes: later reads fail
  // Ciphertext to and from the socket. For a client stream large, so a download over TLS takes
  // about as few ring round trips as over plain TCP: a recv brings up to 16 records rather
  // than one (review §2.8). Allocated with the stream, which lives as long as its pooled
  // connection.
  static constexpr size_t kClientCiphertextBytes = 256 * 1024;
  size_t ciphertext_bytes_;
  std::unique_ptr<char[]> ciphertext_;
  // send_file_range's plaintext chunk and its ciphertext, in one block (see release_idle_buffers).
  std::unique_ptr<char[]> transfer_;
};

} // namespace regcache::tls

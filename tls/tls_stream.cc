#include "tls/tls_stream.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstdint>

namespace regcache::tls {
namespace {

bool is_ip_literal(const std::string &host) {
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

} // namespace

TlsStream::TlsStream(const ClientContext &context, int fd, std::string_view server_name)
    : fd_(fd), ciphertext_(std::make_unique<char[]>(kCiphertextBytes)) {
  ssl_ = SSL_new(context.get());
  network_in_ = BIO_new(BIO_s_mem());
  network_out_ = BIO_new(BIO_s_mem());
  // An empty memory BIO must report "retry", not end of file.
  BIO_set_mem_eof_return(network_in_, -1);
  SSL_set_bio(ssl_, network_in_, network_out_); // ssl_ now owns both BIOs
  SSL_set_connect_state(ssl_);
  std::string host(server_name);
  if (host.size() > 2 && host.front() == '[')
    host = host.substr(1, host.size() - 2);
  if (is_ip_literal(host)) {
    // RFC 6066: SNI carries DNS names only; an IP is checked against the certificate's IP SANs.
    if (context.verify_peer())
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl_, host.c_str());
    if (context.verify_peer())
      SSL_set1_host(ssl_, host.c_str());
  }
}

TlsStream::~TlsStream() {
  SSL_free(ssl_);
}

void TlsStream::note_error(int ssl_result) {
  int code = SSL_get_error(ssl_, ssl_result);
  long verify = SSL_get_verify_result(ssl_);
  if (verify != X509_V_OK) {
    error_text_ =
        std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
  } else if (code == SSL_ERROR_SSL) {
    error_text_ = last_error_text();
  } else {
    error_text_ = "TLS error " + std::to_string(code);
  }
  ERR_clear_error();
}

core::Task<int> TlsStream::flush_ciphertext(uint32_t timeout_ms) {
  // Bounded by what OpenSSL has queued: each turn drains up to one buffer.
  while (BIO_ctrl_pending(network_out_) > 0) {
    int bytes = BIO_read(network_out_, ciphertext_.get(), static_cast<int>(kCiphertextBytes));
    if (bytes <= 0)
      break;
    int rc =
        co_await core::send_all(fd_, std::span<const char>(ciphertext_.get(), bytes), timeout_ms);
    if (rc < 0)
      co_return rc;
  }
  co_return 0;
}

core::Task<int> TlsStream::receive_ciphertext(uint32_t timeout_ms) {
  int32_t received =
      co_await core::recv(fd_, std::span<char>(ciphertext_.get(), kCiphertextBytes), timeout_ms);
  if (received <= 0)
    co_return received == 0 ? -ECONNRESET : received;
  // A memory BIO takes everything (it grows), or fails for want of memory.
  if (BIO_write(network_in_, ciphertext_.get(), received) != received) {
    error_text_ = "cannot buffer received TLS bytes";
    co_return -ENOMEM;
  }
  co_return received;
}

core::Task<int> TlsStream::handshake(uint32_t timeout_ms) {
  for (int round = 0; round < 64; ++round) { // a TLS 1.3 handshake takes 2-3 rounds
    int result = SSL_do_handshake(ssl_);
    int flushed = co_await flush_ciphertext(timeout_ms);
    if (result == 1)
      co_return flushed;
    if (flushed < 0)
      co_return flushed;
    if (SSL_get_error(ssl_, result) != SSL_ERROR_WANT_READ) {
      note_error(result);
      co_return -EPROTO;
    }
    int received = co_await receive_ciphertext(timeout_ms);
    if (received < 0) {
      if (received != -ENOMEM)
        error_text_ = "connection closed during the TLS handshake";
      co_return received;
    }
  }
  error_text_ = "TLS handshake did not finish";
  co_return -EPROTO;
}

core::Task<int> TlsStream::read(std::span<char> buffer, uint32_t timeout_ms) {
  assert(!buffer.empty());
  if (failed_)
    co_return -EPROTO;
  size_t filled = 0;
  // Bounded: a turn either adds plaintext, returns, or receives (each receive adds at least a
  // byte of ciphertext or returns, and waits at most timeout_ms).
  for (;;) {
    const size_t want = std::min<size_t>(buffer.size() - filled, INT32_MAX);
    int result = SSL_read(ssl_, buffer.data() + filled, static_cast<int>(want));
    if (result > 0) {
      filled += static_cast<size_t>(result);
      if (filled == buffer.size())
        co_return static_cast<int>(filled);
      continue; // more records may be decrypted from what was received already
    }
    int code = SSL_get_error(ssl_, result);
    if (code != SSL_ERROR_WANT_READ && code != SSL_ERROR_ZERO_RETURN) {
      note_error(result);
      failed_ = true;
    }
    // What was read is returned first; the end (OpenSSL keeps returning it) or the error
    // (failed_) is the next call's answer.
    if (filled > 0)
      co_return static_cast<int>(filled);
    if (failed_)
      co_return -EPROTO;
    if (code == SSL_ERROR_ZERO_RETURN)
      co_return 0;
    // Post-handshake messages (TLS 1.3 tickets, key updates) may need an answer first.
    int flushed = co_await flush_ciphertext(timeout_ms);
    if (flushed < 0)
      co_return flushed;
    // The peer closing TCP without close_notify is a truncation, never a clean end (RFC 8446
    // section 6.1), so a body delimited by the connection's end is not taken as complete:
    // receive_ciphertext says -ECONNRESET.
    int received = co_await receive_ciphertext(timeout_ms);
    if (received < 0)
      co_return received;
  }
}

core::Task<int> TlsStream::write_all(std::span<const char> bytes, uint32_t timeout_ms) {
  constexpr size_t kRecordBytes = 16 * 1024;
  while (!bytes.empty()) {
    size_t chunk = std::min(bytes.size(), kRecordBytes);
    int result = SSL_write(ssl_, bytes.data(), static_cast<int>(chunk));
    if (result <= 0) {
      note_error(result);
      co_return -EPROTO;
    }
    bytes = bytes.subspan(static_cast<size_t>(result));
    int flushed = co_await flush_ciphertext(timeout_ms);
    if (flushed < 0)
      co_return flushed;
  }
  co_return 0;
}

} // namespace regcache::tls

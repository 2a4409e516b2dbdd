#include "tls/tls_stream.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstdint>

#include "tls/leaf_certificates.h"

namespace regcache::tls {
namespace {

bool is_ip_literal(const std::string &host) {
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

} // namespace

void TlsStream::set_up_bios() {
  network_in_ = BIO_new(BIO_s_mem());
  network_out_ = BIO_new(BIO_s_mem());
  // An empty memory BIO must report "retry", not end of file.
  BIO_set_mem_eof_return(network_in_, -1);
  SSL_set_bio(ssl_, network_in_, network_out_); // ssl_ now owns both BIOs
}

TlsStream::TlsStream(const ClientContext &context, int fd, std::string_view server_name)
    : fd_(fd), ciphertext_bytes_(kClientCiphertextBytes),
      ciphertext_(std::make_unique<char[]>(ciphertext_bytes_)) {
  ssl_ = SSL_new(context.get());
  set_up_bios();
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

TlsStream::TlsStream(const ServerContext &context, int fd)
    : fd_(fd), ciphertext_bytes_(kServerCiphertextBytes),
      ciphertext_(std::make_unique<char[]>(ciphertext_bytes_)) {
  ssl_ = SSL_new(context.get());
  set_up_bios();
  SSL_set_accept_state(ssl_);
  // Where the context's ClientHello callback puts the SNI name (server_context.cc).
  SSL_set_app_data(ssl_, &server_name_);
}

TlsStream::TlsStream(const ServerContext &context, int fd, const LeafCertificate &leaf)
    : TlsStream(context, fd) {
  use_leaf(leaf);
}

void TlsStream::use_leaf(const LeafCertificate &leaf) {
  // Both take a reference; the leaf needs no intermediates (our CA signs it directly). A
  // failure here (out of memory) shows as a failed handshake: the SSL has no certificate.
  if (SSL_use_certificate(ssl_, leaf.certificate()) != 1 ||
      SSL_use_PrivateKey(ssl_, leaf.private_key()) != 1)
    ERR_clear_error();
}

core::Task<int> TlsStream::receive_client_hello(uint32_t timeout_ms, std::string *server_name) {
  int rc = co_await drive_handshake(timeout_ms, true);
  *server_name = server_name_;
  co_return rc;
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
  if (BIO_ctrl_pending(network_out_) == 0)
    co_return 0;
  if (ciphertext_ == nullptr)
    ciphertext_ = std::make_unique<char[]>(ciphertext_bytes_);
  co_return co_await flush_ciphertext_through(std::span<char>(ciphertext_.get(), ciphertext_bytes_),
                                              timeout_ms);
}

core::Task<int> TlsStream::flush_ciphertext_through(std::span<char> buffer, uint32_t timeout_ms) {
  // Bounded by what OpenSSL has queued: each turn drains up to one buffer.
  while (BIO_ctrl_pending(network_out_) > 0) {
    int bytes = BIO_read(network_out_, buffer.data(), static_cast<int>(buffer.size()));
    if (bytes <= 0)
      break;
    int rc = co_await core::send_all(fd_, std::span<const char>(buffer.data(), bytes), timeout_ms);
    if (rc < 0)
      co_return rc;
  }
  co_return 0;
}

core::Task<int> TlsStream::receive_ciphertext(uint32_t timeout_ms) {
  if (ciphertext_ == nullptr) {
    // Idle (release_idle_buffers): wait for the next bytes without a buffer, so a connection
    // between requests holds none; the buffer comes back when they arrive.
    int32_t ready = co_await core::poll(fd_, POLLIN, timeout_ms);
    if (ready < 0)
      co_return ready;
    ciphertext_ = std::make_unique<char[]>(ciphertext_bytes_);
  }
  int32_t received =
      co_await core::recv(fd_, std::span<char>(ciphertext_.get(), ciphertext_bytes_), timeout_ms);
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
  co_return co_await drive_handshake(timeout_ms, false);
}

core::Task<int> TlsStream::drive_handshake(uint32_t timeout_ms, bool stop_at_client_hello) {
  // One deadline for the whole handshake, not one per receive: a peer that dribbles a byte at
  // a time (or garbage that OpenSSL still waits on) cannot hold the connection longer.
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  // A TLS 1.3 handshake takes 2-3 rounds; a ClientHello split into many segments takes more,
  // each bounded by the deadline.
  for (int round = 0; round < 1024; ++round) {
    int result = SSL_do_handshake(ssl_);
    // The error is read before the flush: OpenSSL's error queue belongs to the thread, and
    // other connections' coroutines run on it while this one waits for the send.
    const int code = result == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, result);
    if (code == SSL_ERROR_WANT_CLIENT_HELLO_CB) {
      if (stop_at_client_hello)
        co_return 0; // nothing to send yet: the server has not answered
      error_text_ = "no certificate for this connection";
      co_return -EPROTO;
    }
    const bool failed = result != 1 && code != SSL_ERROR_WANT_READ;
    if (failed)
      note_error(result);
    // Also on failure: the alert OpenSSL queued tells the peer why.
    int flushed = co_await flush_ciphertext(timeout_ms);
    if (failed)
      co_return -EPROTO;
    if (flushed < 0 && error_text_.empty())
      error_text_ = "connection closed during the TLS handshake";
    if (result == 1 || flushed < 0)
      co_return flushed;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (timeout_ms > 0 && left.count() <= 0) {
      error_text_ = "TLS handshake timed out";
      co_return -ETIME;
    }
    const uint32_t wait_ms = timeout_ms == 0 ? 0 : static_cast<uint32_t>(left.count());
    int received = co_await receive_ciphertext(wait_ms);
    if (received < 0) {
      if (received == -ETIME)
        error_text_ = "TLS handshake timed out";
      else if (received != -ENOMEM)
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

void TlsStream::release_idle_buffers() {
  if (BIO_ctrl_pending(network_out_) != 0)
    return;
  ciphertext_.reset();
  if (transfer_ != nullptr) {
    transfer_.reset();
    // The output BIO grew to a chunk's ciphertext while ranges were sent; a fresh one gives
    // that back to the idle connection (nothing is pending in it).
    BIO *fresh = BIO_new(BIO_s_mem());
    if (fresh != nullptr) {
      SSL_set0_wbio(ssl_, fresh); // frees the old one
      network_out_ = fresh;
    }
  }
}

bool TlsStream::has_buffered_plaintext() const {
  return SSL_pending(ssl_) > 0 || SSL_has_pending(ssl_) == 1 || BIO_ctrl_pending(network_in_) > 0;
}

core::Task<int> TlsStream::send_file_range(int file_fd, uint64_t offset, uint64_t bytes,
                                           uint32_t timeout_ms, uint64_t *bytes_sent) {
  if (bytes == 0)
    co_return 0;
  // Held from the first range until release_idle_buffers(): a blob that follows a running
  // download is sent in many ranges, which must not allocate each time.
  if (transfer_ == nullptr)
    transfer_ = std::make_unique<char[]>(kTransferChunkBytes + kTransferCiphertextBytes);
  const std::span<char> plaintext(transfer_.get(), kTransferChunkBytes);
  const std::span<char> ciphertext(transfer_.get() + kTransferChunkBytes, kTransferCiphertextBytes);
  // Keep OpenSSL's record buffers for the whole range (the context releases them when empty,
  // which would be after every record here).
  const bool released = (SSL_get_mode(ssl_) & SSL_MODE_RELEASE_BUFFERS) != 0;
  SSL_clear_mode(ssl_, SSL_MODE_RELEASE_BUFFERS);
  int rc = 0;
  uint64_t done = 0;
  // Bounded: each turn reads at least one byte of the range or ends.
  while (done < bytes) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(bytes - done, plaintext.size()));
    int32_t got = co_await core::read(file_fd, plaintext.first(want), offset + done);
    if (got <= 0) {
      rc = got == 0 ? -EIO : got;
      break;
    }
    // With a memory BIO the whole chunk is taken at once (it never says "retry" on write).
    int written = SSL_write(ssl_, plaintext.data(), got);
    if (written != got) {
      note_error(written);
      rc = -EPROTO;
      break;
    }
    rc = co_await flush_ciphertext_through(ciphertext, timeout_ms);
    if (rc < 0)
      break;
    done += static_cast<uint64_t>(got);
    *bytes_sent += static_cast<uint64_t>(got); // grows, as core::send_file_range's count does
  }
  if (released)
    SSL_set_mode(ssl_, SSL_MODE_RELEASE_BUFFERS);
  co_return rc;
}

} // namespace regcache::tls

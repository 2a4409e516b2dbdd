// The server side of TlsStream against a real OpenSSL client on its own thread over a
// socketpair: the handshake presents the leaf (verified by the client against the CA), data
// goes both ways, a file range arrives byte-exact, ALPN picks http/1.1 (and nothing for an
// h2-only client), the leaf can be picked from the ClientHello's SNI name, a second connection
// resumes the session, an idle stream gives its buffer
// back and reads again; a garbage or truncated ClientHello and a silent client end the
// handshake with an error.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/ring.h"
#include "tests/unit/tls/tls_test_support.h"
#include "tls/certificate_authority.h"
#include "tls/leaf_certificates.h"
#include "tls/server_context.h"
#include "tls/tls_stream.h"

namespace regcache::tls {
namespace {

using testing::run_on_ring;
using testing::TempDir;

constexpr uint32_t kTimeoutMs = 5000;
constexpr char kHost[] = "registry.example";

struct SocketPair {
  SocketPair() {
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    // The client's blocking calls give up after a while instead of hanging a failed test.
    timeval limit{5, 0};
    ::setsockopt(fds[1], SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
    ::setsockopt(fds[1], SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
  }
  ~SocketPair() {
    for (int fd : fds)
      if (fd >= 0)
        ::close(fd);
  }
  void close_client() {
    ::close(fds[1]);
    fds[1] = -1;
  }
  int server() const { return fds[0]; }
  int client() const { return fds[1]; }
  int fds[2] = {-1, -1};
};

// A blocking OpenSSL client that trusts only the test's CA and checks the host name.
class TestClient {
public:
  TestClient(const CertificateAuthority &ca, int max_version) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_max_proto_version(ctx_, max_version);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx_), ca.certificate());
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_CLIENT);
  }
  ~TestClient() {
    SSL_free(ssl_);
    SSL_SESSION_free(session_);
    SSL_CTX_free(ctx_);
  }

  // Connects over `fd`; `alpn` in wire format (empty: none offered).
  bool connect(int fd, const std::string &alpn = "") {
    SSL_free(ssl_);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd);
    SSL_set_tlsext_host_name(ssl_, kHost);
    SSL_set1_host(ssl_, kHost);
    if (!alpn.empty())
      SSL_set_alpn_protos(ssl_, reinterpret_cast<const unsigned char *>(alpn.data()),
                          static_cast<unsigned>(alpn.size()));
    if (session_ != nullptr)
      SSL_set_session(ssl_, session_);
    if (SSL_connect(ssl_) != 1) {
      ERR_print_errors_fp(stderr);
      return false;
    }
    return true;
  }
  bool write(const std::string &bytes) {
    size_t written = 0;
    return SSL_write_ex(ssl_, bytes.data(), bytes.size(), &written) == 1 && written == bytes.size();
  }
  std::string read_exactly(size_t bytes) {
    std::string out(bytes, '\0');
    size_t filled = 0;
    while (filled < bytes) { // bounded: each turn reads or ends (receive timeout)
      size_t got = 0;
      if (SSL_read_ex(ssl_, out.data() + filled, bytes - filled, &got) != 1)
        break;
      filled += got;
    }
    out.resize(filled);
    return out;
  }
  // Keeps the session for the next connect.
  void keep_session() {
    SSL_SESSION_free(session_);
    session_ = SSL_get1_session(ssl_);
  }
  void shutdown() { SSL_shutdown(ssl_); }
  SSL *ssl() const { return ssl_; }
  std::string alpn() const {
    const unsigned char *data = nullptr;
    unsigned length = 0;
    SSL_get0_alpn_selected(ssl_, &data, &length);
    return std::string(reinterpret_cast<const char *>(data), length);
  }

private:
  SSL_CTX *ctx_ = nullptr;
  SSL *ssl_ = nullptr;
  SSL_SESSION *session_ = nullptr;
};

std::string random_bytes(size_t size, unsigned seed) {
  std::mt19937 generator(seed);
  std::string bytes(size, '\0');
  for (char &c : bytes)
    c = static_cast<char>(generator());
  return bytes;
}

class TlsStreamServerTest : public ::testing::Test {
protected:
  void SetUp() override {
    // A client thread writing to a connection the server gave up on must get EPIPE, not end
    // the test binary.
    std::signal(SIGPIPE, SIG_IGN);
    std::string error;
    ASSERT_TRUE(ring_.init(core::RingOptions{}, &error)) << error;
    bool created = false;
    ca_ = CertificateAuthority::load_or_create(dir_.path(), &created, &error);
    ASSERT_NE(ca_, nullptr) << error;
    context_ = ServerContext::create(&error);
    ASSERT_NE(context_, nullptr) << error;
    leaves_ = std::make_unique<LeafCertificates>(ca_, 16);
    leaf_ = run_on_ring(ring_, leaves_->get(kHost, &error));
    ASSERT_NE(leaf_, nullptr) << error;
  }

  int handshake(TlsStream &stream, uint32_t timeout_ms = kTimeoutMs) {
    return run_on_ring(ring_, stream.handshake(timeout_ms));
  }
  // Reads exactly `bytes` through the stream (or what came before an error).
  std::string read_exactly(TlsStream &stream, size_t bytes) {
    return run_on_ring(ring_, [](TlsStream &stream, size_t bytes) -> core::Task<std::string> {
      std::string out;
      std::vector<char> buffer(64 * 1024);
      while (out.size() < bytes) { // bounded: each read returns bytes or ends the loop
        int got = co_await stream.read(std::span<char>(buffer.data(), buffer.size()), kTimeoutMs);
        if (got <= 0)
          break;
        out.append(buffer.data(), static_cast<size_t>(got));
      }
      co_return out;
    }(stream, bytes));
  }

  // One read into a buffer of `bytes`.
  std::string read_into(TlsStream &stream, size_t bytes) {
    std::string out(bytes, '\0');
    int got = run_on_ring(ring_, stream.read(std::span<char>(out.data(), out.size()), kTimeoutMs));
    out.resize(got > 0 ? static_cast<size_t>(got) : 0);
    return out;
  }

  TempDir dir_;
  core::Ring ring_;
  std::shared_ptr<const CertificateAuthority> ca_;
  std::unique_ptr<ServerContext> context_;
  std::unique_ptr<LeafCertificates> leaves_;
  std::shared_ptr<const LeafCertificate> leaf_;
};

TEST_F(TlsStreamServerTest, HandshakesWithAClientThatVerifiesTheLeafAndExchangesDataBothWays) {
  SocketPair sockets;
  const std::string request = random_bytes(100 * 1024 + 3, 1);
  const std::string response = random_bytes(300 * 1024 + 5, 2);
  std::string client_received;
  std::string client_alpn;
  bool client_ok = false;
  std::thread client([&] {
    TestClient tls(*ca_, TLS1_3_VERSION);
    const std::string offer("\x02h2\x08http/1.1", 12);
    client_ok = tls.connect(sockets.client(), offer) && tls.write(request);
    client_alpn = tls.alpn();
    client_received = tls.read_exactly(response.size());
    tls.shutdown();
  });
  TlsStream stream(*context_, sockets.server(), *leaf_);
  EXPECT_EQ(handshake(stream), 0) << stream.error_text();
  EXPECT_EQ(read_exactly(stream, request.size()), request);
  EXPECT_EQ(run_on_ring(ring_, stream.write_all(response, kTimeoutMs)), 0);
  client.join();
  EXPECT_TRUE(client_ok);
  EXPECT_EQ(client_alpn, "http/1.1");
  EXPECT_EQ(client_received.size(), response.size());
  EXPECT_TRUE(client_received == response);
}

TEST_F(TlsStreamServerTest, PicksTheLeafForTheNameInTheClientHello) {
  SocketPair sockets;
  bool client_ok = false;
  std::thread client([&] {
    TestClient tls(*ca_, TLS1_3_VERSION); // sends SNI registry.example, verifies that name
    client_ok = tls.connect(sockets.client()) && tls.read_exactly(1) == "x";
  });
  TlsStream stream(*context_, sockets.server());
  std::string server_name;
  ASSERT_EQ(run_on_ring(ring_, stream.receive_client_hello(kTimeoutMs, &server_name)), 0)
      << stream.error_text();
  EXPECT_EQ(server_name, kHost);
  std::string error;
  std::shared_ptr<const LeafCertificate> leaf =
      run_on_ring(ring_, leaves_->get(server_name, &error));
  ASSERT_NE(leaf, nullptr) << error;
  stream.use_leaf(*leaf);
  EXPECT_EQ(handshake(stream), 0) << stream.error_text();
  EXPECT_EQ(run_on_ring(ring_, stream.write_all(std::string("x"), kTimeoutMs)), 0);
  client.join();
  EXPECT_TRUE(client_ok);
}

TEST_F(TlsStreamServerTest, AClientHelloWithoutSniGivesAnEmptyNameAndNoLeafFailsCleanly) {
  SocketPair sockets;
  std::thread client([&] {
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, sockets.client());
    SSL_connect(ssl); // no SNI; fails when the server gives up
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  });
  TlsStream stream(*context_, sockets.server());
  std::string server_name = "unset";
  ASSERT_EQ(run_on_ring(ring_, stream.receive_client_hello(kTimeoutMs, &server_name)), 0)
      << stream.error_text();
  EXPECT_EQ(server_name, "");
  // No use_leaf(): the handshake cannot go on, and says so.
  EXPECT_EQ(handshake(stream), -EPROTO);
  EXPECT_NE(stream.error_text().find("no certificate"), std::string::npos) << stream.error_text();
  ::shutdown(sockets.server(), SHUT_RDWR);
  client.join();
}

TEST_F(TlsStreamServerTest, AClientOfferingOnlyH2GetsNoAlpn) {
  SocketPair sockets;
  bool client_ok = false;
  std::string client_alpn = "unset";
  std::thread client([&] {
    TestClient tls(*ca_, TLS1_3_VERSION);
    client_ok = tls.connect(sockets.client(), std::string("\x02h2", 3));
    client_alpn = tls.alpn();
    tls.shutdown();
  });
  TlsStream stream(*context_, sockets.server(), *leaf_);
  EXPECT_EQ(handshake(stream), 0) << stream.error_text();
  client.join();
  EXPECT_TRUE(client_ok);
  EXPECT_EQ(client_alpn, "");
}

TEST_F(TlsStreamServerTest, SendsAFileRangeByteExact) {
  TempDir files;
  const std::string path = files.path() + "/blob";
  const std::string content = random_bytes(3 * 1024 * 1024 + 4321, 3);
  {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    ::close(fd);
  }
  const uint64_t offset = 12345;
  const uint64_t bytes = 2 * 1024 * 1024 + 777; // not a multiple of a chunk or a record
  SocketPair sockets;
  std::string client_received;
  std::thread client([&] {
    TestClient tls(*ca_, TLS1_3_VERSION);
    if (tls.connect(sockets.client()))
      client_received = tls.read_exactly(bytes);
  });
  TlsStream stream(*context_, sockets.server(), *leaf_);
  ASSERT_EQ(handshake(stream), 0) << stream.error_text();
  int file_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(file_fd, 0);
  uint64_t sent = 0;
  EXPECT_EQ(run_on_ring(ring_, stream.send_file_range(file_fd, offset, bytes, kTimeoutMs, &sent)),
            0);
  EXPECT_EQ(sent, bytes);
  client.join();
  EXPECT_EQ(client_received.size(), bytes);
  EXPECT_TRUE(client_received == content.substr(offset, bytes));
  // Past the end of the file: an error, not a short success.
  uint64_t past_sent = 0;
  SocketPair more;
  std::thread reader([&] {
    TestClient tls(*ca_, TLS1_3_VERSION);
    if (tls.connect(more.client()))
      tls.read_exactly(1024 * 1024);
  });
  TlsStream second(*context_, more.server(), *leaf_);
  ASSERT_EQ(handshake(second), 0) << second.error_text();
  EXPECT_EQ(run_on_ring(ring_, second.send_file_range(file_fd, content.size() - 100, 1000,
                                                      kTimeoutMs, &past_sent)),
            -EIO);
  EXPECT_EQ(past_sent, 100u);
  more.close_client(); // lets nothing wait on the reader's timeout longer than needed
  reader.join();
  ::close(file_fd);
}

TEST_F(TlsStreamServerTest, RangesOfOneResponseAddUpAndTheBuffersGoWhenIdle) {
  // A blob that follows a running download is sent as many ranges: the count grows across
  // them (as the plain path's does), and the bytes arrive in order.
  TempDir files;
  const std::string path = files.path() + "/blob";
  const std::string content = random_bytes(600 * 1024 + 17, 4);
  {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    ::close(fd);
  }
  SocketPair sockets;
  std::string client_received;
  std::thread client([&] {
    TestClient tls(*ca_, TLS1_3_VERSION);
    if (tls.connect(sockets.client()))
      client_received = tls.read_exactly(content.size());
  });
  TlsStream stream(*context_, sockets.server(), *leaf_);
  ASSERT_EQ(handshake(stream), 0) << stream.error_text();
  int file_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(file_fd, 0);
  uint64_t sent = 0;
  const uint64_t first = 300 * 1024 + 5;
  EXPECT_EQ(run_on_ring(ring_, stream.send_file_range(file_fd, 0, first, kTimeoutMs, &sent)), 0);
  EXPECT_EQ(sent, first);
  stream.release_idle_buffers(); // between ranges as between requests: the next takes them again
  EXPECT_EQ(run_on_ring(ring_, stream.send_file_range(file_fd, first, content.size() - first,
                                                      kTimeoutMs, &sent)),
            0);
  EXPECT_EQ(sent, content.size());
  client.join();
  EXPECT_TRUE(client_received == content);
  ::close(file_fd);
}

class TlsStreamResumption : public TlsStreamServerTest,
                            public ::testing::WithParamInterface<int> {};

TEST_P(TlsStreamResumption, ASecondConnectionResumesTheSession) {
  TestClient tls(*ca_, GetParam());
  for (int connection = 0; connection < 2; ++connection) {
    SocketPair sockets;
    bool client_ok = false;
    bool reused = false;
    std::thread client([&] {
      // A byte from the server first: a TLS 1.3 ticket comes after the handshake.
      client_ok = tls.connect(sockets.client()) && tls.read_exactly(1) == "x";
      reused = SSL_session_reused(tls.ssl()) == 1;
      tls.keep_session();
      tls.shutdown();
    });
    TlsStream stream(*context_, sockets.server(), *leaf_);
    EXPECT_EQ(handshake(stream), 0) << stream.error_text();
    EXPECT_EQ(run_on_ring(ring_, stream.write_all(std::string("x"), kTimeoutMs)), 0);
    client.join();
    EXPECT_TRUE(client_ok);
    EXPECT_EQ(reused, connection == 1) << "connection " << connection;
  }
}

INSTANTIATE_TEST_SUITE_P(Versions, TlsStreamResumption,
                         ::testing::Values(TLS1_2_VERSION, TLS1_3_VERSION));

TEST_F(TlsStreamServerTest, AGarbageClientHelloFailsTheHandshake) {
  SocketPair sockets;
  const std::string garbage = "GET / HTTP/1.1\r\nHost: registry.example\r\n\r\n";
  ASSERT_EQ(::send(sockets.client(), garbage.data(), garbage.size(), 0),
            static_cast<ssize_t>(garbage.size()));
  TlsStream stream(*context_, sockets.server(), *leaf_);
  EXPECT_EQ(handshake(stream), -EPROTO);
  EXPECT_FALSE(stream.error_text().empty());
}

// The first bytes of a real ClientHello, made by a client on memory BIOs.
std::string client_hello_prefix(size_t bytes) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  SSL *ssl = SSL_new(ctx);
  BIO *in = BIO_new(BIO_s_mem());
  BIO *out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
  SSL_set_connect_state(ssl);
  SSL_do_handshake(ssl);
  char *data = nullptr;
  long length = BIO_get_mem_data(out, &data);
  std::string hello(data, static_cast<size_t>(length));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  EXPECT_GT(hello.size(), bytes);
  return hello.substr(0, bytes);
}

TEST_F(TlsStreamServerTest, AClientHelloCutShortByACloseFailsTheHandshake) {
  SocketPair sockets;
  const std::string prefix = client_hello_prefix(60);
  ASSERT_EQ(::send(sockets.client(), prefix.data(), prefix.size(), 0),
            static_cast<ssize_t>(prefix.size()));
  sockets.close_client();
  TlsStream stream(*context_, sockets.server(), *leaf_);
  EXPECT_EQ(handshake(stream), -ECONNRESET);
  EXPECT_NE(stream.error_text().find("closed"), std::string::npos) << stream.error_text();
}

TEST_F(TlsStreamServerTest, AClientThatNeverFinishesItsHelloTimesOut) {
  SocketPair sockets;
  const std::string prefix = client_hello_prefix(60);
  ASSERT_EQ(::send(sockets.client(), prefix.data(), prefix.size(), 0),
            static_cast<ssize_t>(prefix.size()));
  TlsStream stream(*context_, sockets.server(), *leaf_);
  EXPECT_EQ(handshake(stream, 200), -ETIME);
  EXPECT_NE(stream.error_text().find("timed out"), std::string::npos) << stream.error_text();
}

TEST_F(TlsStreamServerTest, ASilentClientTimesOut) {
  SocketPair sockets;
  TlsStream stream(*context_, sockets.server(), *leaf_);
  EXPECT_EQ(handshake(stream, 200), -ETIME);
}

TEST_F(TlsStreamServerTest, ReadsAndWritesAfterReleasingItsIdleBuffers) {
  SocketPair sockets;
  const std::string request = random_bytes(40 * 1024 + 1, 4); // more than one receive buffer
  std::string client_received;
  std::thread client([&] {
    TestClient tls(*ca_, TLS1_3_VERSION);
    if (tls.connect(sockets.client()) && tls.write(request))
      client_received = tls.read_exactly(2);
  });
  TlsStream stream(*context_, sockets.server(), *leaf_);
  ASSERT_EQ(handshake(stream), 0) << stream.error_text();
  stream.release_idle_buffers();
  EXPECT_EQ(read_exactly(stream, request.size()), request);
  stream.release_idle_buffers();
  EXPECT_EQ(run_on_ring(ring_, stream.write_all(std::string("ok"), kTimeoutMs)), 0);
  client.join();
  EXPECT_EQ(client_received, "ok");
}

TEST_F(TlsStreamServerTest, ReportsPlaintextLeftAfterAShortRead) {
  SocketPair sockets;
  const std::string requests = "GET /v2/ HTTP/1.1\r\n\r\nGET /v2/ HTTP/1.1\r\n\r\n";
  std::thread client([&] {
    TestClient tls(*ca_, TLS1_3_VERSION);
    if (tls.connect(sockets.client()))
      tls.write(requests);
    tls.read_exactly(1); // holds the connection open until the server is done
  });
  TlsStream stream(*context_, sockets.server(), *leaf_);
  ASSERT_EQ(handshake(stream), 0) << stream.error_text();
  // A read smaller than the record: the rest is decrypted or buffered, not on the socket.
  EXPECT_EQ(read_into(stream, 5), requests.substr(0, 5));
  EXPECT_TRUE(stream.has_buffered_plaintext());
  EXPECT_EQ(read_into(stream, requests.size() - 5), requests.substr(5));
  EXPECT_FALSE(stream.has_buffered_plaintext());
  EXPECT_EQ(run_on_ring(ring_, stream.write_all(std::string("x"), kTimeoutMs)), 0);
  client.join();
}

} // namespace
} // namespace regcache::tls

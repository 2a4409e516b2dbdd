// The hit path of an intercepted blob: a 200 MiB file sent through a server-side TlsStream
// (ring reads, SSL_write, large sends) over a socketpair to an OpenSSL client thread that
// decrypts and discards it. Reports MiB/s (bytes_per_second) and the CPU seconds per GiB of
// the sending thread (the worker's cost) and of the client. A second benchmark counts the heap
// a server stream holds while its connection is idle after the handshake.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <malloc.h>
#include <openssl/ssl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/ring.h"
#include "core/task.h"
#include "tests/unit/core/run_on_ring.h"
#include "tls/certificate_authority.h"
#include "tls/leaf_certificates.h"
#include "tls/server_context.h"
#include "tls/tls_stream.h"

namespace regcache::tls {
namespace {

constexpr uint64_t kFileBytes = 200ull * 1024 * 1024;
constexpr uint32_t kTimeoutMs = 30'000;
constexpr int kTurnsMax = 1'000'000; // a 200 MiB range takes a few thousand ring turns

double thread_cpu_s() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// The server side both benchmarks share: a ring, a CA made in `dir`, the server context and
// one leaf.
struct ServerSide {
  bool init(const std::string &dir, std::string *error) {
    // The client's SSL_write of its last alert after the server closed would kill the process.
    std::signal(SIGPIPE, SIG_IGN);
    if (!ring.init(core::RingOptions{}, error))
      return false;
    bool created = false;
    ca = CertificateAuthority::load_or_create(dir, &created, error);
    context = ca ? ServerContext::create(error) : nullptr;
    if (context == nullptr)
      return false;
    leaves = std::make_unique<LeafCertificates>(ca, 4);
    leaf = core::run_on_ring(ring, leaves->get("registry.example", error));
    return leaf != nullptr;
  }

  core::Ring ring;
  std::shared_ptr<const CertificateAuthority> ca;
  std::unique_ptr<ServerContext> context;
  std::unique_ptr<LeafCertificates> leaves;
  std::shared_ptr<const LeafCertificate> leaf;
};

void BM_SendFileRangeThroughTls(benchmark::State &state) {
  const std::string dir = std::filesystem::temp_directory_path() / "regcache-tls-bench";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string blob = dir + "/blob";
  {
    std::vector<char> chunk(1 << 20);
    for (size_t i = 0; i < chunk.size(); ++i)
      chunk[i] = static_cast<char>(i * 2654435761u >> 13);
    int fd = ::open(blob.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    for (uint64_t written = 0; written < kFileBytes; written += chunk.size())
      if (::write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size()))
        std::abort();
    ::close(fd);
  }
  ServerSide server;
  std::string error;
  if (!server.init(dir + "/ca", &error)) {
    state.SkipWithError(error.c_str());
    return;
  }
  int fds[2];
  ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
  // Socket buffers as a TCP connection to a client would have them after autotuning.
  const int buffer_bytes = 4 << 20;
  for (int fd : fds) {
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer_bytes, sizeof(buffer_bytes));
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof(buffer_bytes));
  }
  std::atomic<double> client_cpu_s{0};
  std::thread client([&] {
    SSL_CTX *client_ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = SSL_new(client_ctx);
    SSL_set_fd(ssl, fds[1]);
    if (SSL_connect(ssl) == 1) {
      const double start = thread_cpu_s();
      std::vector<char> buffer(256 * 1024);
      size_t got = 0;
      // Bounded by the server closing the connection after the last iteration.
      while (SSL_read_ex(ssl, buffer.data(), buffer.size(), &got) == 1) {
      }
      client_cpu_s = thread_cpu_s() - start;
    }
    SSL_free(ssl);
    SSL_CTX_free(client_ctx);
  });
  TlsStream stream(*server.context, fds[0], *server.leaf);
  if (core::run_on_ring(server.ring, stream.handshake(kTimeoutMs)) != 0) {
    std::fprintf(stderr, "handshake: %s\n", stream.error_text().c_str());
    state.SkipWithError("handshake failed");
  }
  int file_fd = ::open(blob.c_str(), O_RDONLY | O_CLOEXEC);
  double server_cpu_s = 0;
  uint64_t total_bytes = 0;
  for (auto _ : state) {
    const double start = thread_cpu_s();
    uint64_t sent = 0;
    int rc = core::run_on_ring(
        server.ring, stream.send_file_range(file_fd, 0, kFileBytes, kTimeoutMs, &sent), kTurnsMax);
    server_cpu_s += thread_cpu_s() - start;
    total_bytes += sent;
    if (rc != 0)
      state.SkipWithError("send_file_range failed");
  }
  ::shutdown(fds[0], SHUT_RDWR);
  client.join();
  ::close(fds[0]);
  ::close(fds[1]);
  ::close(file_fd);
  const double gib = static_cast<double>(total_bytes) / (1024.0 * 1024 * 1024);
  state.SetBytesProcessed(static_cast<int64_t>(total_bytes));
  state.counters["server_cpu_s_per_GiB"] = server_cpu_s / gib;
  state.counters["client_cpu_s_per_GiB"] = client_cpu_s.load() / gib;
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_SendFileRangeThroughTls)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

// Heap held by `kConnections` idle server streams after their handshakes (TLS 1.3, a leaf
// each), per connection. The clients run in a child process so their memory is not counted.
void BM_IdleServerStreamHeap(benchmark::State &state) {
  constexpr int kConnections = 200;
  const std::string dir = std::filesystem::temp_directory_path() / "regcache-tls-heap-bench";
  std::filesystem::remove_all(dir);
  ServerSide server;
  std::string error;
  if (!server.init(dir, &error)) {
    state.SkipWithError(error.c_str());
    return;
  }
  for (auto _ : state) {
    std::vector<std::array<int, 2>> pairs(kConnections);
    for (auto &pair : pairs)
      ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair.data());
    pid_t child = ::fork();
    if (child == 0) {
      SSL_CTX *client_ctx = SSL_CTX_new(TLS_client_method());
      std::vector<SSL *> sessions;
      for (auto &pair : pairs) {
        SSL *ssl = SSL_new(client_ctx);
        SSL_set_fd(ssl, pair[1]);
        SSL_connect(ssl);
        sessions.push_back(ssl);
      }
      char byte;
      ::read(pairs[0][1], &byte, 1); // until the parent closes
      ::_exit(0);
    }
    for (auto &pair : pairs)
      ::close(pair[1]);
    const size_t before = mallinfo2().uordblks;
    std::vector<std::unique_ptr<TlsStream>> streams;
    for (auto &pair : pairs) {
      streams.push_back(std::make_unique<TlsStream>(*server.context, pair[0], *server.leaf));
      if (core::run_on_ring(server.ring, streams.back()->handshake(kTimeoutMs)) != 0)
        state.SkipWithError("handshake failed");
      if (state.range(0) == 1)
        streams.back()->release_idle_buffers();
    }
    const size_t after = mallinfo2().uordblks;
    state.counters["heap_bytes_per_idle_connection"] =
        static_cast<double>(after - before) / kConnections;
    streams.clear();
    for (auto &pair : pairs)
      ::close(pair[0]);
    ::waitpid(child, nullptr, 0);
  }
  std::filesystem::remove_all(dir);
}
// Argument 1: release_idle_buffers() after the handshake; 0: not.
BENCHMARK(BM_IdleServerStreamHeap)->Arg(0)->Arg(1)->Iterations(1);

} // namespace
} // namespace regcache::tls

BENCHMARK_MAIN();

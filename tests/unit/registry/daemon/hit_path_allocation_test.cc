// Proves the design rule "no heap allocation per request on the hit path": a real Server (ring,
// listener, connection, store, access log) serves a cached blob over and over on one keep-alive
// connection while every global operator new in the process is counted. After a warm-up (frame
// pools, pipes, first log flush), serving more hits must not allocate at all.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <string>

#include "registry/api/digest.h"
#include "registry/cache/sha256.h"
#include "registry/config/options.h"
#include "registry/daemon/server.h"

namespace {
std::atomic<uint64_t> g_allocations{0};
} // namespace

#if defined(__SANITIZE_ADDRESS__)
// Under AddressSanitizer the allocator is ASan's: replacing operator new would pair ASan's
// allocations with our frees. Count through its malloc hook instead (it sees every heap
// allocation, operator new included).
// Declared here: GCC does not install the sanitizer interface headers; libasan exports it.
extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *,
                                                                             size_t),
                                                         void (*free_hook)(const volatile void *));
namespace {
void count_allocation(const volatile void *, size_t) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
}
void ignore_free(const volatile void *) {}
const int g_hooks_installed =
    __sanitizer_install_malloc_and_free_hooks(count_allocation, ignore_free);
} // namespace
#else
// Counting replacements of the global allocation functions (all forms forward to these two).
void *operator new(std::size_t bytes) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void *block = std::malloc(bytes == 0 ? 1 : bytes))
    return block;
  throw std::bad_alloc();
}
void operator delete(void *block) noexcept {
  std::free(block);
}
void operator delete(void *block, std::size_t) noexcept {
  std::free(block);
}
#endif

namespace regcache::registry {
namespace {

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr *>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr *>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

// One GET on a connected socket; returns the body length read, or -1. Fixed buffers only: the
// client side must not allocate either, or it would count.
long get_once(int fd, const char *request, size_t request_bytes, std::array<char, 65536> &buffer) {
  if (::send(fd, request, request_bytes, MSG_NOSIGNAL) != static_cast<ssize_t>(request_bytes))
    return -1;
  size_t have = 0;
  long head_end = -1;
  for (int turn = 0; turn < 1000 && head_end < 0; ++turn) {
    ssize_t got = ::recv(fd, buffer.data() + have, buffer.size() - have, 0);
    if (got <= 0)
      return -1;
    have += static_cast<size_t>(got);
    const char *end = static_cast<const char *>(memmem(buffer.data(), have, "\r\n\r\n", 4));
    if (end != nullptr)
      head_end = end - buffer.data() + 4;
  }
  const char *length_field =
      static_cast<const char *>(memmem(buffer.data(), head_end, "Content-Length: ", 16));
  if (length_field == nullptr || std::strncmp(buffer.data(), "HTTP/1.1 200", 12) != 0)
    return -1;
  long body_bytes = std::strtol(length_field + 16, nullptr, 10);
  long received = static_cast<long>(have) - head_end;
  while (received < body_bytes) { // bounded by the body length
    ssize_t got = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (got <= 0)
      return -1;
    received += got;
  }
  return received == body_bytes ? body_bytes : -1;
}

TEST(HitPathAllocationTest, ServingACachedBlobAllocatesNothingPerRequest) {
  char pattern[] = "/tmp/regcache-alloc-test-XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  std::string root = pattern;
  std::string blob(256 * 1024, 'x');
  for (size_t i = 0; i < blob.size(); ++i)
    blob[i] = static_cast<char>(i * 131 + 7);
  std::string digest = to_string(sha256_of(blob));
  std::string hex = digest.substr(7);
  std::filesystem::create_directories(root + "/blobs/sha256/" + hex.substr(0, 2));
  std::ofstream(root + "/blobs/sha256/" + hex.substr(0, 2) + "/" + hex, std::ios::binary) << blob;

  std::string listen = "127.0.0.1:" + std::to_string(free_port());
  std::array<const char *, 7> argv{"regcache",   "--listen",           listen.c_str(),
                                   "--upstream", "http://127.0.0.1:9", "--cache-dir",
                                   root.c_str()};
  ParsedOptions options = parse_options(argv);
  ASSERT_EQ(options.outcome, ParsedOptions::Outcome::Run) << options.message;
  Server server(std::move(options.config));
  std::string error;
  ASSERT_TRUE(server.start(&error)) << error;

  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(std::stoi(listen.substr(listen.rfind(':') + 1))));
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr *>(&address), sizeof(address)), 0);
  std::string request =
      "GET /v2/some/long/repository/name/blobs/" + digest + " HTTP/1.1\r\nHost: regcache\r\n\r\n";
  std::array<char, 65536> buffer;

  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(get_once(fd, request.data(), request.size(), buffer), 256 * 1024);
  uint64_t before = g_allocations.load();
  long failures = 0;
  for (int i = 0; i < 200; ++i) {
    if (get_once(fd, request.data(), request.size(), buffer) != 256 * 1024)
      failures++;
  }
  uint64_t allocations = g_allocations.load() - before;
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(allocations, 0u) << "heap allocations while serving 200 cache hits";

  ::close(fd);
  server.request_stop();
  server.join();
  std::filesystem::remove_all(root);
}

} // namespace
} // namespace regcache::registry

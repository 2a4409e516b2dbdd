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
#include <memory>
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

// One GET on a connected socket; returns the body length read, or -1 (also when the status line
// does not start with `status_line`). Fixed buffers only: the client side must not allocate
// either, or it would count.
long get_once(int fd, const char *request, size_t request_bytes, std::array<char, 65536> &buffer,
              const char *status_line = "HTTP/1.1 200") {
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
  if (length_field == nullptr ||
      std::strncmp(buffer.data(), status_line, std::strlen(status_line)) != 0)
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

class HitPathAllocationTest : public ::testing::Test {
protected:
  static constexpr long kBlobBytes = 256 * 1024;

  void SetUp() override {
    char pattern[] = "/tmp/regcache-alloc-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    root_ = pattern;
    std::string blob(kBlobBytes, 'x');
    for (size_t i = 0; i < blob.size(); ++i)
      blob[i] = static_cast<char>(i * 131 + 7);
    digest_ = to_string(sha256_of(blob));
    std::string hex = digest_.substr(7);
    std::filesystem::create_directories(root_ + "/blobs/sha256/" + hex.substr(0, 2));
    std::ofstream(root_ + "/blobs/sha256/" + hex.substr(0, 2) + "/" + hex, std::ios::binary)
        << blob;

    std::string listen = "127.0.0.1:" + std::to_string(free_port());
    std::array<const char *, 7> argv{"regcache",   "--listen",           listen.c_str(),
                                     "--upstream", "http://127.0.0.1:9", "--cache-dir",
                                     root_.c_str()};
    ParsedOptions options = parse_options(argv);
    ASSERT_EQ(options.outcome, ParsedOptions::Outcome::Run) << options.message;
    server_ = std::make_unique<Server>(std::move(options.config));
    std::string error;
    ASSERT_TRUE(server_->start(&error)) << error;

    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port =
        htons(static_cast<uint16_t>(std::stoi(listen.substr(listen.rfind(':') + 1))));
    ASSERT_EQ(::connect(fd_, reinterpret_cast<sockaddr *>(&address), sizeof(address)), 0);
  }

  void TearDown() override {
    if (fd_ >= 0)
      ::close(fd_);
    if (server_) {
      server_->request_stop();
      server_->join();
    }
    std::filesystem::remove_all(root_);
  }

  std::string request(std::string_view extra_fields) const {
    return "GET /v2/some/long/repository/name/blobs/" + digest_ +
           " HTTP/1.1\r\nHost: regcache\r\n" + std::string(extra_fields) + "\r\n";
  }

  // Warms up, then counts the allocations of 200 requests; every answer must be `status_line`
  // with `body_bytes`.
  void expect_no_allocations(const std::string &request, const char *status_line, long body_bytes) {
    std::array<char, 65536> buffer;
    for (int i = 0; i < 20; ++i)
      ASSERT_EQ(get_once(fd_, request.data(), request.size(), buffer, status_line), body_bytes);
    uint64_t before = g_allocations.load();
    long failures = 0;
    for (int i = 0; i < 200; ++i) {
      if (get_once(fd_, request.data(), request.size(), buffer, status_line) != body_bytes)
        failures++;
    }
    uint64_t allocations = g_allocations.load() - before;
    EXPECT_EQ(failures, 0);
    EXPECT_EQ(allocations, 0u) << "heap allocations while serving 200 cache hits";
  }

  std::string root_;
  std::string digest_;
  std::unique_ptr<Server> server_;
  int fd_ = -1;
};

TEST_F(HitPathAllocationTest, ServingACachedBlobAllocatesNothingPerRequest) {
  expect_no_allocations(request(""), "HTTP/1.1 200", kBlobBytes);
}

TEST_F(HitPathAllocationTest, ServingARangeOfACachedBlobAllocatesNothingPerRequest) {
  expect_no_allocations(request("Range: bytes=1000-50999\r\n"), "HTTP/1.1 206", 50000);
}

TEST_F(HitPathAllocationTest, ServingMultipleRangesOfACachedBlobAllocatesNothingPerRequest) {
  // The multipart framing (delimiters, part heads) adds to the parts' 300 bytes.
  const std::string multipart = request("Range: bytes=0-99,1000-1099,-100\r\n");
  std::array<char, 65536> buffer;
  const long body_bytes = get_once(fd_, multipart.data(), multipart.size(), buffer, "HTTP/1.1 206");
  ASSERT_GT(body_bytes, 300);
  expect_no_allocations(multipart, "HTTP/1.1 206", body_bytes);
}

} // namespace
} // namespace regcache::registry

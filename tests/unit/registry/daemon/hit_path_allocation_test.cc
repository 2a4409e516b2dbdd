// Proves the design rule "no heap allocation per request on the hit path": a real Server (ring,
// listener, connection, store, access log) serves a cached blob, a blob HEAD, and a manifest by
// tag and by digest (GET and HEAD) over and over on one keep-alive connection while every
// global operator new in the process is counted. After a warm-up (frame pools, pipes, first log
// flush, the first hit of a manifest reading it into memory), serving more hits must not
// allocate at all.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "registry/api/accept_kind.h"
#include "registry/api/digest.h"
#include "registry/cache/sha256.h"
#include "registry/cache/tag_store.h"
#include "registry/config/options.h"
#include "registry/daemon/server.h"
#include "tests/unit/registry/daemon/loopback_port.h"

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

// One request on a connected socket; returns the body length read (for a HEAD, which has no
// body: the Content-Length), or -1 (also when the status line does not start with
// `status_line`). Fixed buffers only: the client side must not allocate either, or it would
// count.
long get_once(int fd, const char *request, size_t request_bytes, std::array<char, 65536> &buffer,
              const char *status_line = "HTTP/1.1 200") {
  const bool head_request = std::strncmp(request, "HEAD ", 5) == 0;
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
  if (head_request)
    return received == 0 ? body_bytes : -1;
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
    place_manifest();

    std::string listen = "127.0.0.1:" + std::to_string(testing::free_loopback_port());
    // No upstream health probe: it runs on its own schedule, allocates as any upstream request
    // does, and is not the hit path this test measures.
    std::array<const char *, 9> argv{"regcache",
                                     "--listen",
                                     listen.c_str(),
                                     "--upstream",
                                     "http://127.0.0.1:9",
                                     "--cache-dir",
                                     root_.c_str(),
                                     "--upstream-check-interval-ms",
                                     "0"};
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

  std::string request(std::string_view extra_fields, std::string_view method = "GET") const {
    return std::string(method) + " /v2/some/long/repository/name/blobs/" + digest_ +
           " HTTP/1.1\r\nHost: regcache\r\n" + std::string(extra_fields) + "\r\n";
  }

  // containerd's Accept (remotes/docker/resolver.go): every manifest kind and */*.
  static constexpr std::string_view kContainerdAccept =
      "Accept: application/vnd.docker.distribution.manifest.v2+json, "
      "application/vnd.docker.distribution.manifest.list.v2+json, "
      "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
      "*/*\r\n";

  std::string manifest_request(std::string_view method, std::string_view reference) const {
    return std::string(method) + " /v2/some/long/repository/name/manifests/" +
           std::string(reference) + " HTTP/1.1\r\nHost: regcache\r\n" +
           std::string(kContainerdAccept) + "\r\n";
  }

  // An OCI index as the store keeps it (bytes by digest, type beside), and a fresh tag entry
  // for containerd's Accept naming it, as an earlier pull through the upstream left them. The
  // upstream (port 9) answers nothing: every answer below is the cache's.
  void place_manifest() {
    manifest_ = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",)"
                R"("manifests":[)";
    for (int i = 0; i < 8; ++i) {
      manifest_ += std::string(i == 0 ? "" : ",") +
                   R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1234,)"
                   R"("digest":"sha256:)" +
                   std::string(64, static_cast<char>('a' + i)) +
                   R"(","platform":{"architecture":"amd64","os":"linux"}})";
    }
    manifest_ += "]}";
    const Digest digest = sha256_of(manifest_);
    manifest_digest_ = to_string(digest);
    const std::string hex = manifest_digest_.substr(7);
    std::filesystem::create_directories(root_ + "/meta/sha256/" + hex.substr(0, 2));
    std::ofstream(root_ + "/blobs/sha256/" + hex.substr(0, 2) + "/" + hex, std::ios::binary)
        << manifest_;
    std::ofstream(root_ + "/meta/sha256/" + hex.substr(0, 2) + "/" + hex, std::ios::binary)
        << kMediaTypeOciIndex;
    TagEntry entry;
    entry.digest = digest;
    entry.size_bytes = manifest_.size();
    entry.confirmed_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
    entry.media_type = intern_media_type(kMediaTypeOciIndex);
    entry.accept_mask = kAcceptMaskAll;
    std::string path;
    ASSERT_TRUE(tag_entries_path(TagKey{"127.0.0.1:9", "some/long/repository/name", "1.0"}, path));
    std::filesystem::create_directories(std::filesystem::path(root_ + "/" + path).parent_path());
    std::ofstream(root_ + "/" + path) << format_tag_entries(std::vector<TagEntry>{entry});
    tag_path_ = root_ + "/" + path;
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
    EXPECT_EQ(allocations, 0u) << "heap allocations while serving 200 cache hits: "
                               << request.substr(0, request.find('\r'));
  }

  std::string root_;
  std::string digest_;
  std::string manifest_;
  std::string manifest_digest_;
  std::string tag_path_;
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

TEST_F(HitPathAllocationTest, AnsweringABlobHeadAllocatesNothingPerRequest) {
  expect_no_allocations(request("", "HEAD"), "HTTP/1.1 200", kBlobBytes);
}

TEST_F(HitPathAllocationTest, ServingAManifestByTagAllocatesNothingPerRequest) {
  expect_no_allocations(manifest_request("GET", "1.0"), "HTTP/1.1 200",
                        static_cast<long>(manifest_.size()));
}

TEST_F(HitPathAllocationTest, AnsweringAManifestHeadByTagAllocatesNothingPerRequest) {
  expect_no_allocations(manifest_request("HEAD", "1.0"), "HTTP/1.1 200",
                        static_cast<long>(manifest_.size()));
}

TEST_F(HitPathAllocationTest, ServingAManifestByDigestAllocatesNothingPerRequest) {
  expect_no_allocations(manifest_request("GET", manifest_digest_), "HTTP/1.1 200",
                        static_cast<long>(manifest_.size()));
}

TEST_F(HitPathAllocationTest, AnsweringAManifestHeadByDigestAllocatesNothingPerRequest) {
  expect_no_allocations(manifest_request("HEAD", manifest_digest_), "HTTP/1.1 200",
                        static_cast<long>(manifest_.size()));
}

TEST_F(HitPathAllocationTest, ManifestAndBlobHeadHitsNeedNoFileOnceWarm) {
  // After one GET by tag (the tag's entries and the manifest are in memory then), the files
  // go: the hits that follow can only have come from memory and the blob index.
  const std::string by_tag = manifest_request("GET", "1.0");
  const std::string head_by_tag = manifest_request("HEAD", "1.0");
  const std::string blob_head = request("", "HEAD");
  std::array<char, 65536> buffer;
  const long manifest_bytes = static_cast<long>(manifest_.size());
  ASSERT_EQ(get_once(fd_, by_tag.data(), by_tag.size(), buffer), manifest_bytes);
  const std::string hex = manifest_digest_.substr(7);
  ASSERT_TRUE(std::filesystem::remove(root_ + "/blobs/sha256/" + hex.substr(0, 2) + "/" + hex));
  ASSERT_TRUE(std::filesystem::remove(root_ + "/meta/sha256/" + hex.substr(0, 2) + "/" + hex));
  ASSERT_TRUE(std::filesystem::remove(tag_path_));
  const std::string blob_hex = digest_.substr(7);
  ASSERT_TRUE(
      std::filesystem::remove(root_ + "/blobs/sha256/" + blob_hex.substr(0, 2) + "/" + blob_hex));
  for (int i = 0; i < 5; ++i) {
    buffer.fill(0);
    EXPECT_EQ(get_once(fd_, by_tag.data(), by_tag.size(), buffer), manifest_bytes);
    // The body is the manifest itself (on loopback a response this small arrives in one recv,
    // at the start of the buffer).
    EXPECT_NE(memmem(buffer.data(), buffer.size(), manifest_.data(), manifest_.size()), nullptr);
    EXPECT_EQ(get_once(fd_, head_by_tag.data(), head_by_tag.size(), buffer), manifest_bytes);
    EXPECT_EQ(get_once(fd_, blob_head.data(), blob_head.size(), buffer), kBlobBytes);
  }
}

} // namespace
} // namespace regcache::registry

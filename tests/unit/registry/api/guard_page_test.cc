// Every parser of the registry module, fed input that ends flush against an unreadable page:
// reading one byte past the end of the input crashes the test (picohttpparser's technique).
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "registry/api/accept_kind.h"
#include "registry/api/digest.h"
#include "registry/api/name_grammar.h"
#include "registry/api/oci_error.h"
#include "registry/api/route.h"
#include "registry/api/upstream_url.h"
#include "registry/config/options.h"

namespace regcache::registry {
namespace {

class GuardPageTest : public ::testing::Test {
protected:
  void SetUp() override {
    page_bytes_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    void *mapping =
        mmap(nullptr, 2 * page_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(mapping, MAP_FAILED);
    base_ = static_cast<char *>(mapping);
    ASSERT_EQ(mprotect(base_ + page_bytes_, page_bytes_, PROT_NONE), 0);
  }
  void TearDown() override {
    if (base_ != nullptr)
      munmap(base_, 2 * page_bytes_);
  }

  // Copies `text` so that its last byte is the last readable byte.
  std::string_view place(std::string_view text) {
    EXPECT_LE(text.size(), page_bytes_);
    char *start = base_ + page_bytes_ - text.size();
    std::memcpy(start, text.data(), text.size());
    return {start, text.size()};
  }

  // Calls `check` with every prefix of every sample, each placed against the guard page.
  template <typename Check>
  void for_each_guarded_prefix(const std::vector<std::string> &samples, Check check) {
    for (const std::string &sample : samples) {
      for (size_t size = 0; size <= sample.size(); ++size) {
        check(place(std::string_view(sample).substr(0, size)));
      }
    }
  }

private:
  size_t page_bytes_ = 0;
  char *base_ = nullptr;
};

const std::string kDigest = "sha256:" + std::string(64, 'c');

TEST_F(GuardPageTest, ParseRouteReadsNothingPastThePath) {
  for_each_guarded_prefix({"/v2/library/alpine/manifests/latest", "/v2/a/b/tags/list",
                           "/v2/a/blobs/" + kDigest, "/v2/a/manifests/" + kDigest,
                           "/v2/x/blobs/uploads/", "/v2/a__b/c--d/manifests/_T.1-x"},
                          [](std::string_view path) { (void)parse_route(path); });
}

TEST_F(GuardPageTest, GrammarValidatorsReadNothingPastTheInput) {
  for_each_guarded_prefix({"library/alpine", "a__b.c--d/e", "v1.2_3-rc", kDigest,
                           "sha512:" + std::string(128, 'e'), "multihash+base58:QmRZx=",
                           "registry-1.docker.io", "192.168.100.200", "2001:db8::ffff:1", "65535"},
                          [](std::string_view input) {
                            (void)is_valid_repository_name(input);
                            (void)is_valid_tag(input);
                            (void)is_valid_digest(input);
                            (void)is_valid_hostname(input);
                            (void)is_valid_ipv4(input);
                            (void)is_valid_ipv6(input);
                            (void)parse_port(input);
                            (void)is_valid_registry_host(input);
                          });
}

TEST_F(GuardPageTest, DigestParserReadsNothingPastTheInput) {
  for_each_guarded_prefix({kDigest},
                          [](std::string_view input) { (void)parse_sha256_digest(input); });
}

TEST_F(GuardPageTest, QueryParamReadsNothingPastTheQuery) {
  for_each_guarded_prefix({"ns=docker.io&a=1&ns", "?x&ns="},
                          [](std::string_view query) { (void)query_param(query, "ns"); });
}

TEST_F(GuardPageTest, AcceptMaskReadsNothingPastTheHeaderValue) {
  for_each_guarded_prefix({std::string(kMediaTypeOciIndex) + R"(; q=0.5; x="a,\"b", */*;Q=0)"},
                          [](std::string_view value) {
                            (void)accept_mask(value);
                            (void)manifest_kind(value);
                          });
}

TEST_F(GuardPageTest, UrlAndListenParsersReadNothingPastTheInput) {
  for_each_guarded_prefix({"https://registry.example.com:8443/", "http://[2001:db8::1]:5000",
                           "[::1]:3128", "127.0.0.1:3128"},
                          [](std::string_view text) {
                            (void)parse_upstream_url(text, nullptr);
                            (void)parse_listen_address(text);
                          });
}

TEST_F(GuardPageTest, OciErrorFormatterReadsNothingPastTheMessage) {
  std::array<char, 512> out{};
  for_each_guarded_prefix({"quote\" nl\n caf\xc3\xa9 \xf0\x9f\x98\x80 \xe2\x82"},
                          [&](std::string_view message) {
                            (void)format_oci_error(out, OciErrorCode::NameInvalid, message);
                            (void)oci_error_bytes(OciErrorCode::NameInvalid, message);
                          });
}

} // namespace
} // namespace regcache::registry

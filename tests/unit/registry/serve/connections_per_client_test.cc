// The per-client connection counts: an address is admitted up to the limit and refused past
// it, closing a connection makes room again, addresses count separately (IPv4 as mapped IPv6),
// and deleting from the open-addressing table never hides an entry that is still there.
#include "registry/serve/connections_per_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>
#include <vector>

namespace regcache::registry {
namespace {

using Admission = ConnectionsPerClient::Admission;

ClientKey v4(const char *text) {
  sockaddr_storage storage{};
  auto &address = reinterpret_cast<sockaddr_in &>(storage);
  address.sin_family = AF_INET;
  inet_pton(AF_INET, text, &address.sin_addr);
  return client_key_of(storage);
}

ClientKey v6(const char *text) {
  sockaddr_storage storage{};
  auto &address = reinterpret_cast<sockaddr_in6 &>(storage);
  address.sin6_family = AF_INET6;
  inet_pton(AF_INET6, text, &address.sin6_addr);
  return client_key_of(storage);
}

ClientKey numbered(uint32_t n) {
  ClientKey key{};
  std::memcpy(key.data(), &n, sizeof(n));
  return key;
}

TEST(ConnectionsPerClientTest, OffByDefaultAndAllocatesNothing) {
  ConnectionsPerClient counts;
  counts.configure(0, 10000);
  EXPECT_FALSE(counts.enabled());
  EXPECT_EQ(counts.count(v4("10.0.0.1")), 0u);
}

TEST(ConnectionsPerClientTest, RefusesPastTheLimitAndAdmitsAgainAfterAClose) {
  ConnectionsPerClient counts;
  counts.configure(2, 100);
  const ClientKey client = v4("10.0.0.1");
  EXPECT_EQ(counts.admit(client), Admission::Counted);
  EXPECT_EQ(counts.admit(client), Admission::Counted);
  EXPECT_EQ(counts.admit(client), Admission::Refused);
  EXPECT_EQ(counts.count(client), 2u);
  counts.release(client);
  EXPECT_EQ(counts.admit(client), Admission::Counted);
}

TEST(ConnectionsPerClientTest, AddressesCountSeparately) {
  ConnectionsPerClient counts;
  counts.configure(1, 100);
  EXPECT_EQ(counts.admit(v4("10.0.0.1")), Admission::Counted);
  EXPECT_EQ(counts.admit(v4("10.0.0.2")), Admission::Counted);
  EXPECT_EQ(counts.admit(v6("fd00::1")), Admission::Counted);
  EXPECT_EQ(counts.admit(v6("fd00::2")), Admission::Counted);
  EXPECT_EQ(counts.admit(v4("10.0.0.1")), Admission::Refused);
}

TEST(ConnectionsPerClientTest, Ipv4CountsTheSameAsItsMappedIpv6Form) {
  ConnectionsPerClient counts;
  counts.configure(1, 100);
  EXPECT_EQ(counts.admit(v4("192.0.2.7")), Admission::Counted);
  EXPECT_EQ(counts.admit(v6("::ffff:192.0.2.7")), Admission::Refused);
}

TEST(ConnectionsPerClientTest, ReleasingInAnyOrderKeepsEveryOtherCount) {
  // Many addresses in a small table collide; erasing with backward shifts must keep each
  // remaining address findable with its own count.
  ConnectionsPerClient counts;
  counts.configure(3, 64);
  std::vector<ClientKey> keys;
  for (uint32_t n = 1; n <= 64; ++n) {
    keys.push_back(numbered(n * 2654435761u));
    for (uint32_t i = 0; i < (n % 3) + 1; ++i)
      ASSERT_EQ(counts.admit(keys.back()), Admission::Counted);
  }
  for (size_t i = 0; i < keys.size(); i += 2) {
    for (uint32_t c = 0; c < (static_cast<uint32_t>(i + 1) % 3) + 1; ++c)
      counts.release(keys[i]);
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    uint32_t expected = i % 2 == 0 ? 0 : (static_cast<uint32_t>(i + 1) % 3) + 1;
    EXPECT_EQ(counts.count(keys[i]), expected) << i;
  }
}

TEST(ConnectionsPerClientTest, FullTableAdmitsNewAddressesUncounted) {
  ConnectionsPerClient counts;
  counts.configure(1, 4); // 4 addresses tracked at most
  for (uint32_t n = 1; n <= 4; ++n)
    ASSERT_EQ(counts.admit(numbered(n)), Admission::Counted);
  EXPECT_EQ(counts.admit(numbered(99)), Admission::Uncounted);
  EXPECT_EQ(counts.admit(numbered(1)), Admission::Refused); // tracked ones still count
  counts.release(numbered(2));
  EXPECT_EQ(counts.admit(numbered(99)), Admission::Counted);
}

} // namespace
} // namespace regcache::registry

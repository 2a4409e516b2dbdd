#include "core/resolver.h"

#include <netdb.h>

#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "core/wait_list.h"

namespace regcache::core {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kCacheTtl = std::chrono::seconds(60);

struct CachedAnswer {
  SocketAddress address;
  Clock::time_point expires;
};

std::mutex cache_mutex;
std::unordered_map<std::string, CachedAnswer> cache; // key: host (port is set per lookup)

void set_port(SocketAddress &address, uint16_t port) {
  if (address.family() == AF_INET) {
    reinterpret_cast<sockaddr_in *>(&address.storage)->sin_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in6 *>(&address.storage)->sin6_port = htons(port);
  }
}

struct Lookup {
  std::string host;
  SocketAddress address;
  int result = 0;
  Waiter waiter;
};

void lookup_blocking(Lookup &lookup) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo *answers = nullptr;
  int rc = getaddrinfo(lookup.host.c_str(), nullptr, &hints, &answers);
  if (rc != 0 || answers == nullptr) {
    lookup.result = -EHOSTUNREACH;
    return;
  }
  // Prefer IPv4 when both exist: registries' IPv6 paths are the less travelled ones.
  addrinfo *chosen = answers;
  for (addrinfo *a = answers; a != nullptr; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      chosen = a;
      break;
    }
  }
  std::memcpy(&lookup.address.storage, chosen->ai_addr, chosen->ai_addrlen);
  lookup.address.length = chosen->ai_addrlen;
  freeaddrinfo(answers);
  lookup.result = 0;
}

} // namespace

Task<int> resolve(std::string host, uint16_t port, SocketAddress &out) {
  std::string_view bare = host;
  if (bare.size() > 2 && bare.front() == '[' && bare.back() == ']')
    bare = bare.substr(1, bare.size() - 2);
  if (numeric_address(bare, port, out))
    co_return 0;
  {
    std::lock_guard lock(cache_mutex);
    auto it = cache.find(host);
    if (it != cache.end() && it->second.expires > Clock::now()) {
      out = it->second.address;
      set_port(out, port);
      co_return 0;
    }
  }
  Lookup lookup;
  lookup.host = host;
  lookup.waiter.arm();
  // The thread only touches `lookup`, which lives in this suspended frame until the wake-up.
  std::thread([&lookup] {
    lookup_blocking(lookup);
    wake_all(&lookup.waiter);
  }).detach();
  co_await lookup.waiter;
  if (lookup.result != 0)
    co_return lookup.result;
  {
    std::lock_guard lock(cache_mutex);
    cache[host] = CachedAnswer{lookup.address, Clock::now() + kCacheTtl};
  }
  out = lookup.address;
  set_port(out, port);
  co_return 0;
}

} // namespace regcache::core

#include "core/resolver.h"

#include <netdb.h>

#include <cassert>
#include <chrono>
#include <cstring>

#include "core/wait_list.h"

namespace regcache::core {
namespace {

using Clock = std::chrono::steady_clock;

void set_port(SocketAddress &address, uint16_t port) {
  if (address.family() == AF_INET) {
    reinterpret_cast<sockaddr_in *>(&address.storage)->sin_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in6 *>(&address.storage)->sin6_port = htons(port);
  }
}

} // namespace

// One lookup of one name, shared by every worker coroutine waiting for that name. The helper
// thread fills `result` and `address` under the resolver's lock before it wakes the waiters,
// which read them under the same lock.
struct Resolver::Flight {
  std::string host;
  Clock::time_point queued_at{};
  int result = 0;
  SocketAddress address;
  WaitList waiters;
};

int lookup_with_getaddrinfo(const std::string &host, SocketAddress &out) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo *answers = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &answers);
  if (rc != 0 || answers == nullptr)
    return -EHOSTUNREACH;
  // Prefer IPv4 when both exist: registries' IPv6 paths are the less travelled ones.
  addrinfo *chosen = answers;
  for (addrinfo *a = answers; a != nullptr; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      chosen = a;
      break;
    }
  }
  std::memcpy(&out.storage, chosen->ai_addr, chosen->ai_addrlen);
  out.length = chosen->ai_addrlen;
  freeaddrinfo(answers);
  return 0;
}

Resolver::Resolver(ResolverSettings settings, BlockingLookup lookup)
    : settings_(settings), lookup_(std::move(lookup)), queue_(settings.queue_max),
      cache_(settings.cache_entries_max) {
  assert(settings_.threads > 0 && settings_.queue_max > 0);
  threads_.reserve(settings_.threads);
  for (uint32_t i = 0; i < settings_.threads; ++i)
    threads_.emplace_back([this] { run_helper(); });
}

Resolver::~Resolver() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (std::thread &thread : threads_)
    thread.join();
  assert(in_flight_.empty() && "a lookup was still waiting when its resolver went away");
}

size_t Resolver::cached_entries() const {
  std::lock_guard lock(mutex_);
  return cache_.size();
}

size_t Resolver::queued_lookups() const {
  std::lock_guard lock(mutex_);
  return queue_size_;
}

void Resolver::run_helper() {
  for (;;) { // one turn per lookup; ends when the resolver stops
    std::shared_ptr<Flight> flight;
    {
      std::unique_lock lock(mutex_);
      work_ready_.wait(lock, [this] { return stopping_ || queue_size_ > 0; });
      if (stopping_)
        return;
      flight = std::move(queue_[queue_head_]);
      queue_head_ = (queue_head_ + 1) % queue_.size();
      queue_size_--;
    }
    SocketAddress address;
    const bool waited_too_long =
        Clock::now() - flight->queued_at > std::chrono::milliseconds(settings_.queue_wait_max_ms);
    const int result = waited_too_long ? -EAGAIN : lookup_(flight->host, address);
    Waiter *woken = nullptr;
    {
      std::lock_guard lock(mutex_);
      flight->result = result;
      flight->address = address;
      if (result == 0) {
        const Clock::time_point now = Clock::now();
        CachedAnswer &cached = cache_.find_or_insert(
            flight->host, [](const CachedAnswer &) { return false; },
            [now](const CachedAnswer &entry) { return entry.expires <= now; });
        cached = CachedAnswer{address, now + std::chrono::seconds(settings_.cache_ttl_s)};
      }
      in_flight_.erase(std::string_view(flight->host));
      woken = flight->waiters.take_all();
    }
    // Outside the lock (no lock is held across a submission); each waiter's frame keeps its own
    // reference to the flight, so the flight outlives this thread's.
    wake_all(woken);
  }
}

Task<int> Resolver::resolve(std::string host, uint16_t port, SocketAddress &out) {
  std::string_view bare = host;
  if (bare.size() > 2 && bare.front() == '[' && bare.back() == ']')
    bare = bare.substr(1, bare.size() - 2);
  if (numeric_address(bare, port, out))
    co_return 0;
  std::shared_ptr<Flight> flight;
  Waiter waiter;
  {
    std::lock_guard lock(mutex_);
    if (CachedAnswer *cached = cache_.find(host)) {
      if (cached->expires > Clock::now()) {
        out = cached->address;
        set_port(out, port);
        co_return 0;
      }
      cache_.erase(host);
    }
    auto running = in_flight_.find(std::string_view(host));
    if (running != in_flight_.end()) {
      flight = running->second; // single flight: wait for the lookup already on its way
    } else {
      if (queue_size_ >= queue_.size())
        co_return -EAGAIN; // fail fast: waiting here would be a queue without a bound
      flight = std::make_shared<Flight>();
      flight->host = host;
      flight->queued_at = Clock::now();
      in_flight_.emplace(std::string_view(flight->host), flight);
      queue_[(queue_head_ + queue_size_) % queue_.size()] = flight;
      queue_size_++;
      work_ready_.notify_one();
    }
    waiter.arm();
    flight->waiters.push(waiter);
  }
  co_await waiter;
  int result = 0;
  SocketAddress address;
  {
    std::lock_guard lock(mutex_);
    result = flight->result;
    address = flight->address;
  }
  if (result != 0)
    co_return result;
  out = address;
  set_port(out, port);
  co_return 0;
}

Resolver &process_resolver() {
  static Resolver *const resolver = new Resolver();
  return *resolver;
}

} // namespace regcache::core

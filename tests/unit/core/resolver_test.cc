// The resolver's bounds: lookups of one name are single flight, a full queue fails a lookup at
// once, answers are cached in a bounded cache, and results come back through the ring. The
// blocking lookup is a fake that counts its calls and can be held until the test lets it go.
#include "core/resolver.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/ring.h"
#include "core/task.h"

namespace regcache::core {
namespace {

// A blocking lookup that answers 192.0.2.<calls> (or `result` when it is an error), after the
// test opens the gate. Shared with the helper threads, so everything is under a lock.
class FakeLookup {
public:
  BlockingLookup function() {
    return [this](const std::string &host, SocketAddress &out) { return lookup(host, out); };
  }
  void open_gate() {
    {
      std::lock_guard lock(mutex_);
      gate_open_ = true;
    }
    changed_.notify_all();
  }
  // Waits (at most 5 s) until `count` lookups have started.
  bool wait_for_started(int count) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(5), [&] { return started_ >= count; });
  }
  int calls() {
    std::lock_guard lock(mutex_);
    return started_;
  }
  std::vector<std::string> hosts() {
    std::lock_guard lock(mutex_);
    return hosts_;
  }
  int result = 0;

private:
  int lookup(const std::string &host, SocketAddress &out) {
    std::unique_lock lock(mutex_);
    started_++;
    hosts_.push_back(host);
    changed_.notify_all();
    // Bounded: a test that forgets to open the gate fails its lookups after 5 s.
    if (!changed_.wait_for(lock, std::chrono::seconds(5), [&] { return gate_open_; }))
      return -ETIMEDOUT;
    if (result != 0)
      return result;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(0xC0000200u + static_cast<uint32_t>(started_));
    std::memcpy(&out.storage, &address, sizeof(address));
    out.length = sizeof(address);
    return 0;
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  bool gate_open_ = false;
  int started_ = 0;
  std::vector<std::string> hosts_;
};

struct Outcome {
  bool done = false;
  int result = 1;
  SocketAddress address;
};

Task<void> resolve_into(Resolver &resolver, std::string host, uint16_t port, Outcome &outcome) {
  outcome.result = co_await resolver.resolve(std::move(host), port, outcome.address);
  outcome.done = true;
}

std::string text_of(const SocketAddress &address) {
  return format_address(address);
}

class ResolverTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(ring_.init(RingOptions{}, &error)) << error;
  }
  // Runs the loop until every outcome is done, bounded by a number of turns.
  void run_until_done(std::vector<Outcome> &outcomes) {
    auto all_done = [&] {
      for (const Outcome &outcome : outcomes)
        if (!outcome.done)
          return false;
      return true;
    };
    for (int turn = 0; turn < 1000 && !all_done(); ++turn)
      ring_.run_once(10);
    ASSERT_TRUE(all_done()) << "a lookup never came back through the ring";
  }
  Ring ring_;
  FakeLookup fake_;
};

TEST_F(ResolverTest, ConcurrentLookupsOfOneNameShareOneBlockingLookup) {
  Resolver resolver(ResolverSettings{.threads = 4}, fake_.function());
  std::vector<Outcome> outcomes(32);
  for (Outcome &outcome : outcomes)
    spawn(resolve_into(resolver, "registry.example", 443, outcome));
  ASSERT_TRUE(fake_.wait_for_started(1));
  fake_.open_gate();
  run_until_done(outcomes);
  EXPECT_EQ(fake_.calls(), 1);
  for (const Outcome &outcome : outcomes) {
    EXPECT_EQ(outcome.result, 0);
    EXPECT_EQ(text_of(outcome.address), "192.0.2.1:443");
  }
}

TEST_F(ResolverTest, AFullQueueFailsALookupAtOnce) {
  Resolver resolver(ResolverSettings{.threads = 1, .queue_max = 2}, fake_.function());
  std::vector<Outcome> outcomes(4); // never resized: the lookups hold references into it
  spawn(resolve_into(resolver, "a.example", 80, outcomes[0]));
  ASSERT_TRUE(fake_.wait_for_started(1)); // the only helper is busy with a.example
  spawn(resolve_into(resolver, "b.example", 80, outcomes[1]));
  spawn(resolve_into(resolver, "c.example", 80, outcomes[2]));
  EXPECT_EQ(resolver.queued_lookups(), 2u);

  Outcome refused;
  spawn(resolve_into(resolver, "d.example", 80, refused));
  // Without a single loop turn: the answer is immediate, not queued.
  EXPECT_TRUE(refused.done);
  EXPECT_EQ(refused.result, -EAGAIN);

  // A name already queued does not need a slot: it joins the flight.
  spawn(resolve_into(resolver, "c.example", 81, outcomes[3]));
  EXPECT_FALSE(outcomes[3].done);

  fake_.open_gate();
  run_until_done(outcomes);
  for (const Outcome &outcome : outcomes)
    EXPECT_EQ(outcome.result, 0);
  EXPECT_EQ(fake_.hosts(), (std::vector<std::string>{"a.example", "b.example", "c.example"}));
  EXPECT_EQ(text_of(outcomes[2].address), "192.0.2.3:80");
  EXPECT_EQ(text_of(outcomes[3].address), "192.0.2.3:81");
}

TEST_F(ResolverTest, ANameQueuedLongerThanQueueWaitMaxFailsWithoutALookup) {
  Resolver resolver(ResolverSettings{.threads = 1, .queue_wait_max_ms = 50}, fake_.function());
  std::vector<Outcome> outcomes(2);
  spawn(resolve_into(resolver, "slow.example", 80, outcomes[0]));
  ASSERT_TRUE(fake_.wait_for_started(1)); // the only helper hangs in this lookup
  spawn(resolve_into(resolver, "queued.example", 80, outcomes[1]));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  fake_.open_gate();
  run_until_done(outcomes);
  EXPECT_EQ(outcomes[0].result, 0);
  EXPECT_EQ(outcomes[1].result, -EAGAIN);
  EXPECT_EQ(fake_.calls(), 1);
}

TEST_F(ResolverTest, ACachedAnswerNeedsNoLookup) {
  fake_.open_gate();
  Resolver resolver(ResolverSettings{}, fake_.function());
  std::vector<Outcome> first(1);
  spawn(resolve_into(resolver, "registry.example", 443, first[0]));
  run_until_done(first);
  std::vector<Outcome> second(1);
  spawn(resolve_into(resolver, "registry.example", 5000, second[0]));
  EXPECT_TRUE(second[0].done); // from the cache, without waiting
  EXPECT_EQ(second[0].result, 0);
  EXPECT_EQ(text_of(second[0].address), "192.0.2.1:5000");
  EXPECT_EQ(fake_.calls(), 1);
}

TEST_F(ResolverTest, TheCacheHoldsAtMostItsBound) {
  fake_.open_gate();
  Resolver resolver(ResolverSettings{.cache_entries_max = 8}, fake_.function());
  for (int i = 0; i < 100; ++i) {
    std::vector<Outcome> one(1);
    spawn(resolve_into(resolver, "h" + std::to_string(i) + ".example", 80, one[0]));
    run_until_done(one);
    ASSERT_EQ(one[0].result, 0);
    ASSERT_LE(resolver.cached_entries(), 8u);
  }
  EXPECT_EQ(resolver.cached_entries(), 8u);
  EXPECT_EQ(fake_.calls(), 100);
}

TEST_F(ResolverTest, AFailedLookupReachesEveryWaiterAndIsNotCached) {
  fake_.result = -EHOSTUNREACH;
  Resolver resolver(ResolverSettings{}, fake_.function());
  std::vector<Outcome> outcomes(5);
  for (Outcome &outcome : outcomes)
    spawn(resolve_into(resolver, "h1.invalid", 443, outcome));
  fake_.open_gate();
  run_until_done(outcomes);
  for (const Outcome &outcome : outcomes)
    EXPECT_EQ(outcome.result, -EHOSTUNREACH);
  EXPECT_EQ(fake_.calls(), 1);
  EXPECT_EQ(resolver.cached_entries(), 0u);
}

TEST_F(ResolverTest, NumericAddressesNeedNoLookup) {
  Resolver resolver(ResolverSettings{}, fake_.function());
  std::vector<Outcome> outcomes(2);
  spawn(resolve_into(resolver, "10.1.2.3", 5000, outcomes[0]));
  spawn(resolve_into(resolver, "[::1]", 443, outcomes[1]));
  EXPECT_TRUE(outcomes[0].done && outcomes[1].done);
  EXPECT_EQ(text_of(outcomes[0].address), "10.1.2.3:5000");
  EXPECT_EQ(text_of(outcomes[1].address), "[::1]:443");
  EXPECT_EQ(fake_.calls(), 0);
}

} // namespace
} // namespace regcache::core

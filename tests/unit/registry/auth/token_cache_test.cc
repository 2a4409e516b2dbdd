// The token cache's bound: at most entries_max entries whatever clients pull, expired tokens
// evicted before recently used ones, and never an entry whose fetch is in flight (its waiters
// would never be woken).
#include "registry/auth/token_cache.h"

#include <gtest/gtest.h>

#include <string>

#include "core/ring.h"
#include "core/task.h"

namespace regcache::registry {
namespace {

using Kind = TokenCache::Lookup::Kind;

class TokenCacheTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(ring_.init(core::RingOptions{}, &error)) << error;
  }
  // acquire() for a key that needs no wait: it completes without a loop turn.
  TokenCache::Lookup acquire_now(TokenCache &cache, const std::string &key) {
    TokenCache::Lookup lookup;
    bool done = false;
    core::spawn([](TokenCache &cache, std::string key, TokenCache::Lookup &lookup,
                   bool &done) -> core::Task<void> {
      lookup = co_await cache.acquire(key);
      done = true;
    }(cache, key, lookup, done));
    EXPECT_TRUE(done) << key << " had to wait";
    return lookup;
  }
  void fetch_and_complete(TokenCache &cache, const std::string &key, uint32_t lifetime_s) {
    ASSERT_EQ(acquire_now(cache, key).kind, Kind::Fetch) << key;
    cache.complete(key, "token-" + key, lifetime_s);
  }
  void run_until(const bool &done) {
    for (int turn = 0; turn < 1000 && !done; ++turn)
      ring_.run_once(10);
    ASSERT_TRUE(done) << "a waiter was never woken";
  }
  core::Ring ring_;
};

struct Waiting {
  bool done = false;
  TokenCache::Lookup lookup;
};

core::Task<void> wait_for_token(TokenCache &cache, std::string key, Waiting &waiting) {
  waiting.lookup = co_await cache.acquire(key);
  waiting.done = true;
}

TEST_F(TokenCacheTest, HoldsAtMostEntriesMaxWhateverIsPulled) {
  TokenCache cache(100);
  for (int i = 0; i < 2000; ++i) {
    fetch_and_complete(cache, "registry repository:r" + std::to_string(i) + ":pull -", 300);
    ASSERT_LE(cache.size(), 100u);
  }
  EXPECT_EQ(cache.size(), 100u);
  EXPECT_EQ(acquire_now(cache, "registry repository:r1999:pull -").kind, Kind::Hit);
}

TEST_F(TokenCacheTest, DefaultsToTenThousandEntries) {
  EXPECT_EQ(TokenCache::kEntriesMaxDefault, 10'000u);
}

TEST_F(TokenCacheTest, EvictsExpiredTokensBeforeTheLeastRecentlyUsed) {
  TokenCache cache(4);
  fetch_and_complete(cache, "b", 300); // b is the least recently used
  fetch_and_complete(cache, "c", 300);
  fetch_and_complete(cache, "d", 300);
  fetch_and_complete(cache, "expired", 0); // the most recently used, but not usable
  fetch_and_complete(cache, "e", 300);
  EXPECT_EQ(cache.size(), 4u);
  EXPECT_EQ(acquire_now(cache, "b").kind, Kind::Hit);
  EXPECT_EQ(acquire_now(cache, "c").kind, Kind::Hit);
  EXPECT_EQ(acquire_now(cache, "d").kind, Kind::Hit);
  EXPECT_EQ(acquire_now(cache, "e").kind, Kind::Hit);
}

TEST_F(TokenCacheTest, EvictsTheLeastRecentlyUsedWhenNothingExpired) {
  TokenCache cache(3);
  fetch_and_complete(cache, "a", 300);
  fetch_and_complete(cache, "b", 300);
  fetch_and_complete(cache, "c", 300);
  EXPECT_EQ(acquire_now(cache, "a").kind, Kind::Hit); // now b is the least recently used
  fetch_and_complete(cache, "d", 300);
  EXPECT_EQ(acquire_now(cache, "a").kind, Kind::Hit);
  EXPECT_EQ(acquire_now(cache, "c").kind, Kind::Hit);
  EXPECT_EQ(acquire_now(cache, "b").kind, Kind::Fetch); // evicted, so fetched again
  cache.fail("b", "test over");
}

TEST_F(TokenCacheTest, NeverEvictsAnEntryWhoseFetchIsInFlight) {
  TokenCache cache(2);
  ASSERT_EQ(acquire_now(cache, "busy").kind, Kind::Fetch);
  Waiting waiting;
  core::spawn(wait_for_token(cache, "busy", waiting));
  EXPECT_FALSE(waiting.done);
  for (int i = 0; i < 50; ++i)
    fetch_and_complete(cache, "k" + std::to_string(i), 300);
  EXPECT_LE(cache.size(), 3u); // the bound, plus the entry held by its fetch
  cache.complete("busy", "the-token", 300);
  run_until(waiting.done);
  EXPECT_EQ(waiting.lookup.kind, Kind::Hit);
  EXPECT_EQ(waiting.lookup.token, "the-token");
}

TEST_F(TokenCacheTest, WaitersOfAFetchThatFailedForCapacityAnswerBusy) {
  TokenCache cache(10);
  ASSERT_EQ(acquire_now(cache, "k").kind, Kind::Fetch);
  Waiting waiting;
  core::spawn(wait_for_token(cache, "k", waiting));
  cache.fail("k", "too many upstream connections", -EBUSY);
  run_until(waiting.done);
  EXPECT_EQ(waiting.lookup.kind, Kind::Failed);
  EXPECT_EQ(waiting.lookup.failure_errno, -EBUSY);
}

TEST_F(TokenCacheTest, WaitersOfARefusedFetchAnswerUnauthorized) {
  TokenCache cache(10);
  ASSERT_EQ(acquire_now(cache, "k").kind, Kind::Fetch);
  Waiting waiting;
  core::spawn(wait_for_token(cache, "k", waiting));
  cache.fail("k", "token server answered 401");
  run_until(waiting.done);
  EXPECT_EQ(waiting.lookup.kind, Kind::Failed);
  EXPECT_EQ(waiting.lookup.failure_errno, -EACCES);
}

} // namespace
} // namespace regcache::registry

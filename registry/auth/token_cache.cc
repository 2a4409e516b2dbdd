#include "registry/auth/token_cache.h"

#include <algorithm>

namespace regcache::registry {

TokenCache::Clock::duration TokenCache::renewal_margin(uint32_t lifetime_s) {
  // A quarter of the lifetime, at most 60 s: a 60 s token is renewed after 45 s, a 1 h token
  // one minute before it ends.
  return std::chrono::seconds(std::min<uint32_t>(60, lifetime_s / 4));
}

TokenCache::Entry &TokenCache::entry_locked(const std::string &key) {
  const Clock::time_point now = Clock::now();
  return entries_.find_or_insert(
      key, [](const Entry &entry) { return entry.fetching || !entry.waiters.empty(); },
      [now](const Entry &entry) { return entry.usable_until <= now; });
}

size_t TokenCache::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

core::Task<TokenCache::Lookup> TokenCache::acquire(const std::string &key) {
  core::Waiter waiter;
  uint64_t waited_generation = 0;
  bool waited = false;
  for (int round = 0; round < 2; ++round) { // at most one wait: after it, use what it brought
    {
      std::lock_guard lock(mutex_);
      Entry &entry = entry_locked(key);
      if (!entry.token.empty() && Clock::now() < entry.usable_until) {
        co_return Lookup{Lookup::Kind::Hit, entry.token, {}, 0};
      }
      if (waited && entry.generation != waited_generation && !entry.last_error.empty()) {
        co_return Lookup{Lookup::Kind::Failed, {}, entry.last_error, entry.last_errno};
      }
      if (!entry.fetching) {
        entry.fetching = true;
        co_return Lookup{Lookup::Kind::Fetch, {}, {}, 0};
      }
      waiter.arm();
      entry.waiters.push(waiter);
      waited_generation = entry.generation;
      waited = true;
    }
    co_await waiter;
  }
  // Woken twice without a usable answer (a fetch in flight again): fetch ourselves.
  co_return Lookup{Lookup::Kind::Fetch, {}, {}, 0};
}

void TokenCache::finish(const std::string &key, std::string token, uint32_t lifetime_s,
                        std::string error, int failure_errno) {
  core::Waiter *woken;
  {
    std::lock_guard lock(mutex_);
    // Present unless the caller fetched without the entry's fetching flag (acquire's last
    // resort), the one case where the entry could have been evicted meanwhile.
    Entry &entry = entry_locked(key);
    entry.fetching = false;
    entry.generation++;
    entry.last_error = std::move(error);
    entry.last_errno = failure_errno;
    if (!token.empty()) {
      entry.token = std::move(token);
      entry.usable_until =
          Clock::now() + std::chrono::seconds(lifetime_s) - renewal_margin(lifetime_s);
    }
    woken = entry.waiters.take_all();
  }
  core::wake_all(woken);
}

void TokenCache::complete(const std::string &key, std::string token, uint32_t lifetime_s) {
  finish(key, std::move(token), lifetime_s, {}, 0);
}

void TokenCache::fail(const std::string &key, std::string error, int failure_errno) {
  finish(key, {}, 0, error.empty() ? std::string("token request failed") : std::move(error),
         failure_errno);
}

void TokenCache::invalidate(const std::string &key, const std::string &token) {
  std::lock_guard lock(mutex_);
  Entry *entry = entries_.peek(key);
  if (entry != nullptr && entry->token == token) {
    entry->token.clear();
    entry->usable_until = {};
  }
}

} // namespace regcache::registry

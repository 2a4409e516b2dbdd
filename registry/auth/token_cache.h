#pragma once
// Bearer tokens (and ACR refresh tokens), shared by all workers, keyed by
// (upstream, scope set, credential). One fetch per key is in flight at a time however many
// clients need the token: the first caller fetches, the others wait and share the answer.
// Tokens are used until shortly before they expire. Keys come from what clients pull (one scope
// per repository), so the cache holds a bounded number of entries: making room evicts expired
// entries first, then the least recently used; an entry with a fetch in flight (and so its
// waiters) is never evicted.
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "core/lru_map.h"
#include "core/task.h"
#include "core/wait_list.h"

namespace regcache::registry {

class TokenCache {
public:
  using Clock = std::chrono::steady_clock;

  struct Lookup {
    enum class Kind : uint8_t {
      Hit,    // `token` is valid
      Fetch,  // the caller must fetch the token and call complete() (or fail())
      Failed, // the fetch this caller waited for failed; `error` says why
    } kind = Kind::Fetch;
    std::string token;
    std::string error;
    int failure_errno = 0; // Failed: what the fetch's caller answered with (-EACCES, -EBUSY)
  };

  static constexpr uint32_t kEntriesMaxDefault = 10'000;
  explicit TokenCache(uint32_t entries_max = kEntriesMaxDefault) : entries_(entries_max) {}

  // How long before its expiry a token stops being handed out: a token must not expire
  // between our check and the upstream's.
  static Clock::duration renewal_margin(uint32_t lifetime_s);

  core::Task<Lookup> acquire(const std::string &key);
  void complete(const std::string &key, std::string token, uint32_t lifetime_s);
  // `failure_errno` is what waiters of this fetch answer with: -EACCES (refused) unless the fetch
  // failed for want of capacity (-EBUSY), which is no verdict on the credentials.
  void fail(const std::string &key, std::string error, int failure_errno = -EACCES);
  // The upstream refused the token before its time (revoked, clock skew): forget it.
  void invalidate(const std::string &key, const std::string &token);

  size_t size() const;

private:
  struct Entry {
    std::string token;
    Clock::time_point usable_until{};
    bool fetching = false;
    uint64_t generation = 0; // bumped by every completed or failed fetch
    std::string last_error;
    int last_errno = 0;
    core::WaitList waiters;
  };
  Entry &entry_locked(const std::string &key);
  void finish(const std::string &key, std::string token, uint32_t lifetime_s, std::string error,
              int failure_errno);

  mutable std::mutex mutex_;
  core::LruMap<Entry> entries_;
};

} // namespace regcache::registry

#pragma once
// Bearer tokens (and ACR refresh tokens), shared by all workers, keyed by
// (upstream, scope set, credential). One fetch per key is in flight at a time however many
// clients need the token: the first caller fetches, the others wait and share the answer.
// Tokens are used until shortly before they expire.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

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
  };

  // How long before its expiry a token stops being handed out: a token must not expire
  // between our check and the upstream's.
  static Clock::duration renewal_margin(uint32_t lifetime_s);

  core::Task<Lookup> acquire(const std::string &key);
  void complete(const std::string &key, std::string token, uint32_t lifetime_s);
  void fail(const std::string &key, std::string error);
  // The upstream refused the token before its time (revoked, clock skew): forget it.
  void invalidate(const std::string &key, const std::string &token);

private:
  struct Entry {
    std::string token;
    Clock::time_point usable_until{};
    bool fetching = false;
    uint64_t generation = 0; // bumped by every completed or failed fetch
    std::string last_error;
    core::WaitList waiters;
  };
  void finish(const std::string &key, std::string token, uint32_t lifetime_s, std::string error);

  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
};

} // namespace regcache::registry

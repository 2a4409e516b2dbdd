#include "registry/cache/single_flight.h"

#include <type_traits>

namespace regcache::registry {
namespace {

// A follower: its waiter plus where to put the leader's outcome. The waiter is the first member
// so the list of waiters can be walked back to the slots.
struct Follower {
  core::Waiter waiter;
  int outcome = 0;
};
static_assert(std::is_standard_layout_v<Follower>, "a Waiter* must convert back to its Follower");

} // namespace

core::Task<SingleFlight::Joined> SingleFlight::join(const std::string &key) {
  Follower follower;
  {
    std::lock_guard lock(mutex_);
    auto [it, inserted] = flights_.try_emplace(key);
    if (inserted) {
      co_return Joined{true, 0};
    }
    follower.waiter.arm();
    it->second.waiters.push(follower.waiter);
  }
  co_await follower.waiter;
  co_return Joined{false, follower.outcome};
}

void SingleFlight::finish(const std::string &key, int outcome) {
  core::Waiter *woken = nullptr;
  {
    std::lock_guard lock(mutex_);
    auto it = flights_.find(key);
    if (it == flights_.end())
      return;
    woken = it->second.waiters.take_all();
    flights_.erase(it);
    // Hand the outcome to every follower before any of them can run.
    for (core::Waiter *waiter = woken; waiter != nullptr; waiter = waiter->next) {
      reinterpret_cast<Follower *>(waiter)->outcome = outcome;
    }
  }
  core::wake_all(woken);
}

} // namespace regcache::registry

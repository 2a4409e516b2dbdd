#pragma once
// One leader per key, any number of followers: the first caller of a key does the work and
// reports an outcome; callers that arrive meanwhile wait (on their own workers) and receive that
// outcome instead of repeating the work. Used so that concurrent clients of one expired tag share
// one upstream revalidation.
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/task.h"
#include "core/wait_list.h"

namespace regcache::registry {

class SingleFlight {
public:
  struct Joined {
    bool leader = false;
    int outcome = 0; // followers: what the leader reported
  };
  core::Task<Joined> join(const std::string &key);
  // The leader's report; wakes the followers and frees the key for the next round.
  void finish(const std::string &key, int outcome);

private:
  struct Flight {
    core::WaitList waiters;
  };
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Flight> flights_;
};

} // namespace regcache::registry

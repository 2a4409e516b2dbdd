#pragma once
// Wall-clock time as Unix seconds or milliseconds: token expiries and tag entries' confirmation
// times, which must survive restarts and mean the same to other hosts (steady_clock would not).
#include <chrono>
#include <cstdint>

namespace regcache::core {

inline int64_t unix_now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

} // namespace regcache::core

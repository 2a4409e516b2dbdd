#pragma once
// The short-lived bearer tokens regcache's own token endpoint gives its clients (the
// distribution token flow that `docker login regcache:3128` speaks). A token names the user
// (empty for an anonymous client) and its expiry, signed with HMAC-SHA256 under a key made at
// start-up, so tokens need no state and die with the process (clients simply log in again).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace regcache::registry {

class ClientTokens {
public:
  static constexpr uint32_t kLifetimeS = 300;

  ClientTokens();                                                          // a random key
  explicit ClientTokens(const std::array<uint8_t, 32> &key) : key_(key) {} // tests

  // "<hex user>.<expiry unix s>.<hex hmac>"
  std::string issue(std::string_view user, int64_t now_unix_s) const;
  // The user a valid, unexpired token names ("" for anonymous); nullopt otherwise.
  std::optional<std::string> verify(std::string_view token, int64_t now_unix_s) const;

private:
  std::string mac_hex(std::string_view signed_part) const;
  std::array<uint8_t, 32> key_{};
};

} // namespace regcache::registry

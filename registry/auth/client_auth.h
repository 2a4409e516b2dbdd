#pragma once
// Who a client is: anonymous, or a user of the --htpasswd file who sent Basic credentials or a
// token from regcache's own token endpoint. Shared by all workers. A password check runs bcrypt
// on a helper thread (it takes tens of milliseconds by design), a few at a time, and a checked
// password is remembered for a few minutes, so a client's later requests cost one lookup.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/task.h"
#include "registry/auth/client_tokens.h"
#include "registry/auth/htpasswd.h"

namespace regcache::registry {

struct ClientIdentity {
  enum class Kind : uint8_t {
    Anonymous,      // no Authorization, or an anonymous token
    User,           // `user` authenticated
    BadCredentials, // wrong password, unknown user, forged or expired token: 401
    Busy,           // too many password checks running: 503, try again
  };
  Kind kind = Kind::Anonymous;
  std::string user;
};

class ClientAuth {
public:
  static constexpr int kChecksRunningMax = 4;
  static constexpr size_t kRememberedMax = 4096;
  static constexpr int64_t kRememberS = 300;

  // Start-up: the users file; an empty path leaves client authentication off.
  bool load(const std::string &htpasswd_path, std::string *error,
            std::string_view option = "--htpasswd");
  bool enabled() const { return !users_.empty(); }
  const ClientTokens &tokens() const { return tokens_; }
  // A reload: the tokens the previous generation gave clients stay valid under this one (the
  // key is random per process, so a fresh key would log every client out).
  void keep_tokens_of(const ClientAuth &previous) { tokens_ = previous.tokens_; }

  // From the request's Authorization value (empty: none).
  core::Task<ClientIdentity> identify(std::string_view authorization);

private:
  core::Task<ClientIdentity> check_password(std::string user, std::string password);

  Htpasswd users_;
  ClientTokens tokens_;
  std::atomic<int> checks_running_{0};
  std::mutex remembered_mutex_;
  // sha256(user NUL password) -> when the success stops counting (unix s). Bounded.
  std::unordered_map<std::string, int64_t> remembered_;
};

} // namespace regcache::registry

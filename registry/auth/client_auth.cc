#include "registry/auth/client_auth.h"

#include <openssl/evp.h>

#include <chrono>
#include <thread>

#include "core/unix_time.h"
#include "core/wait_list.h"
#include "http/message_head.h"
#include "registry/api/base64.h"

namespace regcache::registry {
namespace {

std::string remembered_key(std::string_view user, std::string_view password) {
  std::string material(user);
  material.push_back('\0');
  material.append(password);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int bytes = 0;
  EVP_Digest(material.data(), material.size(), digest, &bytes, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char *>(digest), bytes);
}

// The scheme's credentials when `authorization` uses `scheme` (case-insensitive), else empty.
std::string_view credentials_of(std::string_view authorization, std::string_view scheme) {
  if (authorization.size() <= scheme.size() || authorization[scheme.size()] != ' ' ||
      !http::iequals(authorization.substr(0, scheme.size()), scheme))
    return {};
  return http::trim_ows(authorization.substr(scheme.size() + 1));
}

// A password check on a helper thread; the frame waits for its wake-up through the ring.
struct PasswordCheck {
  const Htpasswd *users = nullptr;
  std::string user;
  std::string password;
  bool matched = false;
  core::Waiter waiter;
};

} // namespace

bool ClientAuth::load(const std::string &htpasswd_path, std::string *error,
                      std::string_view option) {
  if (htpasswd_path.empty())
    return true;
  if (!users_.load(htpasswd_path, error, option))
    return false;
  if (users_.empty()) {
    *error = std::string(option) + " " + htpasswd_path + ": no users";
    return false;
  }
  return true;
}

core::Task<ClientIdentity> ClientAuth::identify(std::string_view authorization) {
  ClientIdentity identity;
  if (authorization.empty())
    co_return identity;
  if (std::string_view token = credentials_of(authorization, "Bearer"); !token.empty()) {
    std::optional<std::string> user = tokens_.verify(token, core::unix_now_s());
    if (!user) {
      identity.kind = ClientIdentity::Kind::BadCredentials;
    } else if (!user->empty()) {
      identity.kind = ClientIdentity::Kind::User;
      identity.user = std::move(*user);
    }
    co_return identity;
  }
  std::string_view basic = credentials_of(authorization, "Basic");
  std::optional<std::string> decoded = basic.empty() ? std::nullopt : base64_decode(basic);
  const size_t colon = decoded ? decoded->find(':') : std::string::npos;
  if (colon == std::string::npos) {
    identity.kind = ClientIdentity::Kind::BadCredentials;
    co_return identity;
  }
  ClientIdentity checked =
      co_await check_password(decoded->substr(0, colon), decoded->substr(colon + 1));
  co_return checked;
}

core::Task<ClientIdentity> ClientAuth::check_password(std::string user, std::string password) {
  ClientIdentity identity;
  const std::string key = remembered_key(user, password);
  const int64_t now = core::unix_now_s();
  {
    std::lock_guard lock(remembered_mutex_);
    auto it = remembered_.find(key);
    if (it != remembered_.end() && it->second > now) {
      identity.kind = ClientIdentity::Kind::User;
      identity.user = std::move(user);
      co_return identity;
    }
  }
  if (checks_running_.fetch_add(1) >= kChecksRunningMax) {
    checks_running_.fetch_sub(1);
    identity.kind = ClientIdentity::Kind::Busy;
    co_return identity;
  }
  PasswordCheck check;
  check.users = &users_;
  check.user = user;
  check.password = std::move(password);
  check.waiter.arm();
  // The thread touches only `check`, which lives in this suspended frame until the wake-up.
  std::thread([&check] {
    check.matched = check.users->verify(check.user, check.password);
    core::wake_all(&check.waiter);
  }).detach();
  co_await check.waiter;
  checks_running_.fetch_sub(1);
  if (!check.matched) {
    identity.kind = ClientIdentity::Kind::BadCredentials;
    co_return identity;
  }
  {
    std::lock_guard lock(remembered_mutex_);
    if (remembered_.size() >= kRememberedMax) {
      for (auto it = remembered_.begin(); it != remembered_.end();) { // bounded by the size
        it = it->second <= now ? remembered_.erase(it) : std::next(it);
      }
      if (remembered_.size() >= kRememberedMax)
        remembered_.clear(); // all fresh: forgetting costs a bcrypt per client, nothing more
    }
    remembered_[key] = now + kRememberS;
  }
  identity.kind = ClientIdentity::Kind::User;
  identity.user = std::move(user);
  co_return identity;
}

} // namespace regcache::registry

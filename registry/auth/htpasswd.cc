#include "registry/auth/htpasswd.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <fstream>
#include <memory>
#include <sstream>

#include "registry/api/base64.h"

namespace regcache::registry {
namespace {

bool is_bcrypt(std::string_view hash) {
  return hash.size() == 60 &&
         (hash.starts_with("$2y$") || hash.starts_with("$2b$") || hash.starts_with("$2a$"));
}

bool equal_in_constant_time(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool verify_bcrypt(std::string_view hash, std::string_view password) {
  // crypt_r needs NUL-terminated strings; its state is large, so it lives on the heap.
  const std::string key(password);
  const std::string setting(hash);
  auto data = std::make_unique<crypt_data>();
  const char *computed = crypt_r(key.c_str(), setting.c_str(), data.get());
  return computed != nullptr && computed[0] != '*' && equal_in_constant_time(computed, hash);
}

bool verify_sha(std::string_view hash, std::string_view password) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_bytes = 0;
  if (EVP_Digest(password.data(), password.size(), digest, &digest_bytes, EVP_sha1(), nullptr) != 1)
    return false;
  const std::string expected =
      "{SHA}" + base64_encode(std::string_view(reinterpret_cast<char *>(digest), digest_bytes));
  return equal_in_constant_time(expected, hash);
}

} // namespace

bool Htpasswd::load(const std::string &path, std::string *error, std::string_view option) {
  std::ifstream file(path);
  if (!file) {
    *error = std::string(option) + ": cannot read " + path;
    return false;
  }
  std::stringstream text;
  text << file.rdbuf();
  if (!parse(text.str(), error)) {
    *error = std::string(option) + " " + path + ": " + *error;
    return false;
  }
  return true;
}

bool Htpasswd::parse(std::string_view text, std::string *error) {
  hashes_.clear();
  size_t line_number = 0;
  while (!text.empty()) { // bounded: each turn removes one line
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++line_number;
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    if (line.empty() || line.front() == '#')
      continue;
    const size_t colon = line.find(':');
    const std::string_view user = line.substr(0, colon);
    const std::string_view hash =
        colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    const std::string where = "line " + std::to_string(line_number);
    if (user.empty() || hash.empty()) {
      *error = where + ": expected user:hash";
      return false;
    }
    if (!is_bcrypt(hash) && !(hash.starts_with("{SHA}") && hash.size() == 33)) {
      *error = where + ": user " + std::string(user) +
               " has a hash regcache does not accept (use htpasswd -B for bcrypt)";
      return false;
    }
    if (!hashes_.emplace(user, hash).second) {
      *error = where + ": user " + std::string(user) + " appears twice";
      return false;
    }
  }
  return true;
}

bool Htpasswd::verify(std::string_view user, std::string_view password) const {
  auto it = hashes_.find(std::string(user));
  if (it == hashes_.end())
    return false;
  const std::string &hash = it->second;
  return is_bcrypt(hash) ? verify_bcrypt(hash, password) : verify_sha(hash, password);
}

} // namespace regcache::registry

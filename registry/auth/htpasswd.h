#pragma once
// The users who may authenticate to regcache (--htpasswd FILE), in Apache's htpasswd format as
// `htpasswd -B` (bcrypt) or `htpasswd -s` ({SHA}) writes it. Loaded at start-up; verify() is
// blocking (bcrypt costs tens of milliseconds by design), so callers run it off the ring.
#include <string>
#include <string_view>
#include <unordered_map>

namespace regcache::registry {

class Htpasswd {
public:
  // Reads `path`: one "user:hash" per line; blank lines and '#' comments are skipped. Only
  // bcrypt ($2y$, $2b$, $2a$) and {SHA} hashes are accepted; MD5 ($apr1$), crypt and plain
  // text are refused with the line number, since they are weak or ambiguous. Errors name
  // `option`, the option that gave the file.
  bool load(const std::string &path, std::string *error, std::string_view option = "--htpasswd");
  // The same for text already read (tests).
  bool parse(std::string_view text, std::string *error);

  bool empty() const { return hashes_.empty(); }
  size_t size() const { return hashes_.size(); }
  // True when `password` matches `user`'s hash. Blocking.
  bool verify(std::string_view user, std::string_view password) const;

private:
  std::unordered_map<std::string, std::string> hashes_;
};

} // namespace regcache::registry

#include "registry/auth/client_tokens.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <charconv>
#include <cstdlib>

namespace regcache::registry {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

std::string to_hex(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHexDigits[c >> 4]);
    out.push_back(kHexDigits[c & 15]);
  }
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0)
    return std::nullopt;
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(hex.data() + i, hex.data() + i + 2, value, 16);
    if (ec != std::errc() || end != hex.data() + i + 2)
      return std::nullopt;
    out.push_back(static_cast<char>(value));
  }
  return out;
}

} // namespace

ClientTokens::ClientTokens() {
  if (RAND_bytes(key_.data(), static_cast<int>(key_.size())) != 1)
    std::abort(); // no randomness: no way to make unforgeable tokens
}

std::string ClientTokens::mac_hex(std::string_view signed_part) const {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_bytes = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char *>(signed_part.data()), signed_part.size(), mac,
       &mac_bytes);
  return to_hex(std::string_view(reinterpret_cast<char *>(mac), mac_bytes));
}

std::string ClientTokens::issue(std::string_view user, int64_t now_unix_s) const {
  std::string signed_part = to_hex(user) + "." + std::to_string(now_unix_s + kLifetimeS);
  return signed_part + "." + mac_hex(signed_part);
}

std::optional<std::string> ClientTokens::verify(std::string_view token, int64_t now_unix_s) const {
  const size_t last_dot = token.rfind('.');
  if (last_dot == std::string_view::npos)
    return std::nullopt;
  const std::string_view signed_part = token.substr(0, last_dot);
  const std::string expected = mac_hex(signed_part);
  const std::string_view mac = token.substr(last_dot + 1);
  if (mac.size() != expected.size() ||
      CRYPTO_memcmp(mac.data(), expected.data(), expected.size()) != 0)
    return std::nullopt;
  const size_t first_dot = signed_part.find('.');
  if (first_dot == std::string_view::npos)
    return std::nullopt;
  const std::string_view expiry_text = signed_part.substr(first_dot + 1);
  int64_t expiry = 0;
  auto [end, ec] =
      std::from_chars(expiry_text.data(), expiry_text.data() + expiry_text.size(), expiry);
  if (ec != std::errc() || end != expiry_text.data() + expiry_text.size() || expiry <= now_unix_s)
    return std::nullopt;
  return from_hex(signed_part.substr(0, first_dot));
}

} // namespace regcache::registry

#include "registry/api/base64.h"

#include <array>
#include <cassert>
#include <cstdint>

namespace regcache::registry {

namespace {

constexpr std::string_view kStandardAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kUrlAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static_assert(kStandardAlphabet.size() == 64 && kUrlAlphabet.size() == 64);

constexpr uint8_t kNotInAlphabet = 0xFF;

using DecodeTable = std::array<uint8_t, 256>;

constexpr DecodeTable make_decode_table(std::string_view alphabet) {
  DecodeTable table{};
  for (uint8_t &entry : table)
    entry = kNotInAlphabet;
  for (size_t i = 0; i < alphabet.size(); ++i)
    table[static_cast<unsigned char>(alphabet[i])] = static_cast<uint8_t>(i);
  return table;
}

constexpr DecodeTable kStandardTable = make_decode_table(kStandardAlphabet);
constexpr DecodeTable kUrlTable = make_decode_table(kUrlAlphabet);

// Decodes unpadded text; the caller has removed any padding.
std::optional<std::string> decode_unpadded(std::string_view text, const DecodeTable &table) {
  // 4 characters carry 3 bytes; a final group of 2 or 3 characters carries 1 or 2 bytes, and a
  // final group of 1 character cannot come from any input.
  const size_t tail_chars = text.size() % 4;
  if (tail_chars == 1)
    return std::nullopt;
  std::string bytes;
  bytes.reserve(text.size() / 4 * 3 + 2);
  uint32_t bits = 0;
  size_t bit_count = 0;
  for (const char c : text) {
    const uint8_t sextet = table[static_cast<unsigned char>(c)];
    if (sextet == kNotInAlphabet)
      return std::nullopt;
    bits = (bits << 6) | sextet;
    bit_count += 6;
    if (bit_count >= 8) {
      bit_count -= 8;
      bytes.push_back(static_cast<char>((bits >> bit_count) & 0xFF));
    }
  }
  assert(bit_count == 0 || bit_count == 2 || bit_count == 4);
  // The bits left over from the last character must be zero (RFC 4648 section 3.5).
  if ((bits & ((1u << bit_count) - 1)) != 0)
    return std::nullopt;
  return bytes;
}

} // namespace

std::string base64_encode(std::string_view bytes) {
  std::string text;
  text.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t group = (uint32_t(uint8_t(bytes[i])) << 16) |
                           (uint32_t(uint8_t(bytes[i + 1])) << 8) | uint32_t(uint8_t(bytes[i + 2]));
    text.push_back(kStandardAlphabet[(group >> 18) & 0x3F]);
    text.push_back(kStandardAlphabet[(group >> 12) & 0x3F]);
    text.push_back(kStandardAlphabet[(group >> 6) & 0x3F]);
    text.push_back(kStandardAlphabet[group & 0x3F]);
  }
  const size_t remaining = bytes.size() - i;
  if (remaining > 0) {
    uint32_t group = uint32_t(uint8_t(bytes[i])) << 16;
    if (remaining == 2)
      group |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    text.push_back(kStandardAlphabet[(group >> 18) & 0x3F]);
    text.push_back(kStandardAlphabet[(group >> 12) & 0x3F]);
    text.push_back(remaining == 2 ? kStandardAlphabet[(group >> 6) & 0x3F] : '=');
    text.push_back('=');
  }
  assert(text.size() % 4 == 0);
  return text;
}

std::optional<std::string> base64_decode(std::string_view text) {
  size_t padding = 0;
  while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=')
    ++padding;
  if (padding > 0 && text.size() % 4 != 0)
    return std::nullopt; // padding present but not completing the last group
  // A third '=' (or one in the middle) is left in the text and rejected by the alphabet check.
  return decode_unpadded(text.substr(0, text.size() - padding), kStandardTable);
}

std::optional<std::string> base64url_decode(std::string_view text) {
  return decode_unpadded(text, kUrlTable);
}

} // namespace regcache::registry

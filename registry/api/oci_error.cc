#include "registry/api/oci_error.h"

#include <array>
#include <cassert>
#include <cstring>

namespace regcache::registry {

std::string_view code_name(OciErrorCode code) {
  switch (code) {
  case OciErrorCode::BlobUnknown:
    return "BLOB_UNKNOWN";
  case OciErrorCode::BlobUploadInvalid:
    return "BLOB_UPLOAD_INVALID";
  case OciErrorCode::BlobUploadUnknown:
    return "BLOB_UPLOAD_UNKNOWN";
  case OciErrorCode::DigestInvalid:
    return "DIGEST_INVALID";
  case OciErrorCode::ManifestBlobUnknown:
    return "MANIFEST_BLOB_UNKNOWN";
  case OciErrorCode::ManifestInvalid:
    return "MANIFEST_INVALID";
  case OciErrorCode::ManifestUnknown:
    return "MANIFEST_UNKNOWN";
  case OciErrorCode::NameInvalid:
    return "NAME_INVALID";
  case OciErrorCode::NameUnknown:
    return "NAME_UNKNOWN";
  case OciErrorCode::SizeInvalid:
    return "SIZE_INVALID";
  case OciErrorCode::Unauthorized:
    return "UNAUTHORIZED";
  case OciErrorCode::Denied:
    return "DENIED";
  case OciErrorCode::Unsupported:
    return "UNSUPPORTED";
  case OciErrorCode::TooManyRequests:
    return "TOOMANYREQUESTS";
  case OciErrorCode::TagInvalid:
    return "TAG_INVALID";
  case OciErrorCode::UpstreamUnavailable:
    return "UPSTREAM_UNAVAILABLE";
  }
  assert(false && "OciErrorCode out of range");
  return "UNKNOWN";
}

namespace {

constexpr std::string_view kHead = R"({"errors":[{"code":")";
constexpr std::string_view kBeforeMessage = R"(","message":")";
constexpr std::string_view kTail = R"(","detail":null}]})";

// The longest escaped form of one input character: "\u00XX" or "\ufffd".
constexpr size_t kEscapedUnitBytesMax = 6;

struct EscapedUnit {
  size_t consumed_bytes;
  size_t produced_bytes;
  std::array<char, kEscapedUnitBytesMax> bytes;
};

bool is_continuation(unsigned char byte) {
  return (byte & 0xC0) == 0x80;
}

// Length of the well-formed UTF-8 sequence at the start of `text` (RFC 3629 section 4: no
// overlong forms, no surrogates, nothing above U+10FFFF), or 0 when it is not well formed.
size_t utf8_sequence_bytes(std::string_view text) {
  assert(!text.empty());
  const auto lead = static_cast<unsigned char>(text[0]);
  size_t length = 0;
  unsigned char second_min = 0x80;
  unsigned char second_max = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0)
      second_min = 0xA0; // overlong
    if (lead == 0xED)
      second_max = 0x9F; // UTF-16 surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0)
      second_min = 0x90; // overlong
    if (lead == 0xF4)
      second_max = 0x8F; // above U+10FFFF
  } else {
    return 0;
  }
  if (text.size() < length)
    return 0;
  const auto second = static_cast<unsigned char>(text[1]);
  if (second < second_min || second > second_max)
    return 0;
  for (size_t i = 2; i < length; ++i) {
    if (!is_continuation(static_cast<unsigned char>(text[i])))
      return 0;
  }
  return length;
}

// Escapes the character at the start of `text` as JSON string content (RFC 8259 section 7).
EscapedUnit escape_next(std::string_view text) {
  assert(!text.empty());
  EscapedUnit unit{};
  const auto byte = static_cast<unsigned char>(text[0]);
  if (byte < 0x80) {
    unit.consumed_bytes = 1;
    if (byte == '"' || byte == '\\') {
      unit.bytes = {'\\', static_cast<char>(byte)};
      unit.produced_bytes = 2;
    } else if (byte < 0x20) {
      constexpr std::string_view kHexDigits = "0123456789abcdef";
      unit.bytes = {'\\', 'u', '0', '0', kHexDigits[byte >> 4], kHexDigits[byte & 0xF]};
      unit.produced_bytes = 6;
    } else {
      unit.bytes[0] = static_cast<char>(byte);
      unit.produced_bytes = 1;
    }
    return unit;
  }
  const size_t sequence_bytes = utf8_sequence_bytes(text);
  if (sequence_bytes == 0) {
    // JSON text must be UTF-8 (RFC 8259 section 8.1); replace the bad byte, keep going.
    unit.consumed_bytes = 1;
    unit.bytes = {'\\', 'u', 'f', 'f', 'f', 'd'};
    unit.produced_bytes = 6;
    return unit;
  }
  unit.consumed_bytes = sequence_bytes;
  unit.produced_bytes = sequence_bytes;
  std::memcpy(unit.bytes.data(), text.data(), sequence_bytes);
  return unit;
}

size_t fixed_bytes(OciErrorCode code) {
  return kHead.size() + code_name(code).size() + kBeforeMessage.size() + kTail.size();
}

} // namespace

size_t oci_error_bytes(OciErrorCode code, std::string_view message) {
  size_t total = fixed_bytes(code);
  while (!message.empty()) { // bounded: every unit consumes at least one byte
    const EscapedUnit unit = escape_next(message);
    total += unit.produced_bytes;
    message.remove_prefix(unit.consumed_bytes);
  }
  return total;
}

void append_json_string(std::string &out, std::string_view text) {
  out.push_back('"');
  while (!text.empty()) { // bounded: every unit consumes at least one byte
    const EscapedUnit unit = escape_next(text);
    out.append(unit.bytes.data(), unit.produced_bytes);
    text.remove_prefix(unit.consumed_bytes);
  }
  out.push_back('"');
}

size_t format_oci_error(std::span<char> out, OciErrorCode code, std::string_view message) {
  if (out.size() < fixed_bytes(code))
    return 0;
  size_t position = 0;
  auto append = [&](std::string_view text) {
    assert(position + text.size() <= out.size());
    std::memcpy(out.data() + position, text.data(), text.size());
    position += text.size();
  };
  append(kHead);
  append(code_name(code));
  append(kBeforeMessage);
  const size_t message_end_max = out.size() - kTail.size();
  while (!message.empty()) { // bounded: every unit consumes at least one byte
    const EscapedUnit unit = escape_next(message);
    if (position + unit.produced_bytes > message_end_max)
      break; // truncate between characters
    append(std::string_view(unit.bytes.data(), unit.produced_bytes));
    message.remove_prefix(unit.consumed_bytes);
  }
  append(kTail);
  assert(position <= out.size());
  return position;
}

} // namespace regcache::registry

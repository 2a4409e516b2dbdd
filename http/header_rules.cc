#include "http/header_rules.h"

#include <algorithm>
#include <array>
#include <cassert>

namespace regcache::http::header_rules {
namespace {

enum CharClass : uint8_t {
  kTchar = 1 << 0,
  kFieldValue = 1 << 1,
  kTarget = 1 << 2,
  kAuthority = 1 << 3,
};

constexpr std::array<uint8_t, 256> make_char_classes() {
  std::array<uint8_t, 256> table{};
  for (int c = 0; c < 256; ++c) {
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool digit = c >= '0' && c <= '9';
    const bool visible = c >= 0x21 && c <= 0x7e;
    uint8_t bits = 0;
    if (alpha || digit ||
        std::string_view("!#$%&'*+-.^_`|~").find(char(c)) != std::string_view::npos)
      bits |= kTchar;
    // field-vchar = VCHAR / obs-text, plus SP and HTAB inside a value.
    if (visible || c >= 0x80 || c == ' ' || c == '\t')
      bits |= kFieldValue;
    if (visible)
      bits |= kTarget;
    if (alpha || digit ||
        std::string_view("-._~!$&'()*+,;=:[]%").find(char(c)) != std::string_view::npos)
      bits |= kAuthority;
    table[size_t(c)] = bits;
  }
  return table;
}

constexpr std::array<uint8_t, 256> kCharClasses = make_char_classes();

bool has_class(char c, CharClass cls) {
  return (kCharClasses[uint8_t(c)] & cls) != 0;
}

size_t offset_in(std::string_view head, std::string_view part) {
  assert(part.data() >= head.data() && part.data() + part.size() <= head.data() + head.size());
  return size_t(part.data() - head.data());
}

// Calls on_element(element) for each comma-separated element of a field value, trimmed of OWS.
// Empty elements are passed too, so each field can decide how to treat them.
template <typename OnElement>
bool for_each_list_element(std::string_view value, OnElement on_element) {
  // Bounded: every iteration consumes at least the comma it stops at, or ends the loop.
  while (true) {
    const size_t comma = value.find(',');
    if (!on_element(trim_ows(value.substr(0, comma))))
      return false;
    if (comma == std::string_view::npos)
      return true;
    value.remove_prefix(comma + 1);
  }
}

// 1*DIGIT without overflow. RFC 9110 section 8.6: Content-Length = 1*DIGIT.
bool parse_decimal_uint64(std::string_view digits, uint64_t &out) {
  if (digits.empty())
    return false;
  uint64_t value = 0;
  for (const char c : digits) {
    if (!is_digit(c))
      return false;
    const auto digit = uint64_t(c - '0');
    if (value > (UINT64_MAX - digit) / 10)
      return false;
    value = value * 10 + digit;
  }
  out = value;
  return true;
}

ParseResult read_content_length(std::string_view head, const Header &header, FramingFields &out) {
  const size_t offset = offset_in(head, header.value);
  bool valid = true;
  bool differs = false;
  for_each_list_element(header.value, [&](std::string_view element) {
    uint64_t length = 0;
    // RFC 9110 section 8.6 / RFC 9112 section 6.3 item 5: a value that is not a valid length
    // (empty, non-digits, overflow) makes the framing unreliable: reject, never guess.
    if (!parse_decimal_uint64(element, length)) {
      valid = false;
      return false;
    }
    // RFC 9110 section 8.6: a list of identical values (from a proxy merging duplicate fields)
    // may be accepted as that one value; differing values are an unrecoverable error.
    if (out.has_content_length && length != out.content_length) {
      differs = true;
      return false;
    }
    if (!out.has_content_length)
      out.content_length_offset = offset;
    out.has_content_length = true;
    out.content_length = length;
    return true;
  });
  if (!valid)
    return make_error(400, offset, "invalid Content-Length");
  if (differs)
    return make_error(400, offset, "differing Content-Length values");
  return kRuleHolds;
}

ParseResult read_transfer_encoding(std::string_view head, const Header &header,
                                   FramingFields &out) {
  const size_t offset = offset_in(head, header.value);
  if (!out.has_transfer_encoding)
    out.transfer_encoding_offset = offset;
  out.has_transfer_encoding = true;
  std::string_view reason;
  for_each_list_element(header.value, [&](std::string_view element) {
    // RFC 9110 section 5.6.1: a recipient ignores empty list elements.
    if (element.empty())
      return true;
    // transfer-coding = token *( OWS ";" OWS transfer-parameter ) (RFC 9112 section 7).
    const std::string_view coding = trim_ows(element.substr(0, element.find(';')));
    if (!is_token(coding)) {
      reason = "invalid transfer coding";
      return false;
    }
    const bool chunked = iequals(coding, "chunked");
    // RFC 9112 section 6.1: a sender MUST NOT apply chunked more than once (also across several
    // Transfer-Encoding fields, which form one list); such a message has no reliable framing.
    if (chunked && out.chunked_count != 0) {
      reason = "chunked applied more than once";
      return false;
    }
    out.transfer_coding_count++;
    out.chunked_count += chunked ? 1 : 0;
    out.chunked_is_final = chunked;
    out.has_unknown_coding = out.has_unknown_coding || !chunked;
    return true;
  });
  if (!reason.empty())
    return make_error(400, offset, reason);
  return kRuleHolds;
}

} // namespace

bool is_tchar(char c) {
  return has_class(c, kTchar);
}
bool is_field_value_char(char c) {
  return has_class(c, kFieldValue);
}
bool is_target_char(char c) {
  return has_class(c, kTarget);
}
bool is_authority_char(char c) {
  return has_class(c, kAuthority);
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_token(std::string_view text) {
  if (text.empty())
    return false;
  for (const char c : text) {
    if (!is_tchar(c))
      return false;
  }
  return true;
}

bool is_host_and_port(std::string_view text) {
  for (const char c : text) {
    if (!is_authority_char(c))
      return false; // also rejects '@': userinfo is not allowed here (RFC 9110 section 4.2.4)
  }
  return true;
}

ParseResult make_error(uint16_t status, size_t offset, std::string_view reason) {
  assert(status == 400 || status == 431 || status == 501 || status == 505);
  assert(!reason.empty());
  return ParseResult{.kind = ParseResult::Kind::Error,
                     .consumed = 0,
                     .error_status = status,
                     .error_offset = offset,
                     .error_reason = reason};
}

ParseResult locate_head(std::span<const char> input, const ParseLimits &limits, HeadScan &scan) {
  const size_t from = std::min(scan.checked_bytes, input.size());
  const size_t head_end = find_head_end(input, from);
  const size_t head_bytes_known = head_end != 0 ? head_end : input.size();
  const size_t scan_bytes = std::max(from, std::min(head_bytes_known, limits.header_bytes_max));
  // find_head_end steps back 3 bytes for a CRLFCRLF split across calls.
  scan.scanned_bytes += (input.size() - from + std::min<size_t>(from, 3)) + (scan_bytes - from);
  // RFC 9112 section 2.2: a bare CR (not followed by LF) in the head is invalid; we reject it
  // rather than replace it with SP. Lines must end in CRLF: accepting a bare LF (which 2.2 allows
  // but does not require) is how front and back ends come to disagree on where a field ends.
  // Checked before the head is complete so a client sending only LF fails fast instead of waiting
  // for a CRLFCRLF that never comes. A CR at the end of the input is undecided until the next byte.
  for (size_t i = from; i < scan_bytes; ++i) {
    const char c = input[i];
    if (c == '\r' && i + 1 < input.size() && input[i + 1] != '\n')
      return make_error(400, i, "bare CR in head");
    if (c == '\n' && (i == 0 || input[i - 1] != '\r'))
      return make_error(400, i, "bare LF line ending");
  }
  // The next call resumes here; a CR at the very end is checked again with the byte after it.
  const bool cr_undecided = scan_bytes == input.size() && scan_bytes > 0 && input.back() == '\r';
  scan.checked_bytes = cr_undecided ? scan_bytes - 1 : scan_bytes;
  // Slowloris defence: cap the head before its end is found, so a client trickling field lines
  // cannot make us buffer and rescan without bound.
  const bool too_large =
      head_end != 0 ? head_end > limits.header_bytes_max : input.size() > limits.header_bytes_max;
  if (too_large)
    return make_error(431, limits.header_bytes_max, "header block too large");
  if (head_end == 0)
    return make_incomplete();
  return make_complete(head_end);
}

ParseResult parse_http_version(std::string_view text, size_t offset, uint8_t &version_minor) {
  // HTTP-version = "HTTP" "/" DIGIT "." DIGIT, case-sensitive (RFC 9112 section 2.3).
  const bool well_formed = text.size() == 8 && text.substr(0, 5) == "HTTP/" && is_digit(text[5]) &&
                           text[6] == '.' && is_digit(text[7]);
  if (!well_formed)
    return make_error(400, offset, "malformed HTTP version");
  // RFC 9110 section 15.6.6: 505 for a major version we do not support; we speak 1.0 and 1.1.
  if (text[5] != '1' || (text[7] != '0' && text[7] != '1'))
    return make_error(505, offset, "unsupported HTTP version");
  version_minor = uint8_t(text[7] - '0');
  return kRuleHolds;
}

ParseResult parse_field_lines(std::string_view head, size_t line_start, std::span<Header> storage,
                              const ParseLimits &limits, size_t &count) {
  assert(head.size() >= 4 && head.substr(head.size() - 4) == "\r\n\r\n");
  const size_t count_max = std::min(storage.size(), limits.header_count_max);
  count = 0;
  size_t pos = line_start;
  // Bounded: each iteration consumes one line, CRLF included, of a head that ends in CRLFCRLF.
  while (true) {
    assert(pos + 2 <= head.size());
    if (head[pos] == '\r') {
      // locate_head found the first CRLFCRLF, so the first empty line is the last line.
      assert(pos + 2 == head.size());
      return make_complete(head.size());
    }
    const size_t line_end = head.find('\r', pos);
    assert(line_end != std::string_view::npos && head[line_end + 1] == '\n');
    // RFC 9112 section 5.2: obs-fold (a line starting with SP or HTAB) is rejected with 400
    // outside message/http; unfolding differently from a peer is a desync.
    if (is_ows(head[pos]))
      return make_error(400, pos, "obsolete line folding");
    size_t name_end = pos;
    while (name_end < line_end && is_tchar(head[name_end]))
      ++name_end;
    if (name_end == line_end)
      return make_error(400, name_end, "field line without colon");
    if (head[name_end] != ':') {
      // RFC 9112 section 5.1: no whitespace is allowed between field name and colon; a server
      // MUST reject such a request with 400 (and a proxy MUST strip it from responses: we reject).
      if (is_ows(head[name_end]))
        return make_error(400, name_end, "whitespace between field name and colon");
      return make_error(400, name_end, "invalid character in field name");
    }
    if (name_end == pos)
      return make_error(400, pos, "empty field name");
    size_t value_start = name_end + 1;
    while (value_start < line_end && is_ows(head[value_start]))
      ++value_start;
    size_t value_end = value_start;
    for (size_t i = value_start; i < line_end; ++i) {
      // RFC 9110 section 5.5: field values must not hold NUL, CR, LF or other CTLs but HTAB.
      if (!is_field_value_char(head[i]))
        return make_error(400, i, "control character in field value");
      if (!is_ows(head[i]))
        value_end = i + 1;
    }
    if (count == count_max)
      return make_error(431, pos, "too many header fields");
    storage[count++] = Header{.name = head.substr(pos, name_end - pos),
                              .value = head.substr(value_start, value_end - value_start)};
    pos = line_end + 2;
  }
}

ParseResult read_framing_fields(std::string_view head, std::span<const Header> headers,
                                FramingFields &out) {
  for (const Header &header : headers) {
    if (iequals(header.name, "content-length")) {
      const ParseResult result = read_content_length(head, header, out);
      if (result.error())
        return result;
    } else if (iequals(header.name, "transfer-encoding")) {
      const ParseResult result = read_transfer_encoding(head, header, out);
      if (result.error())
        return result;
    } else if (iequals(header.name, "host")) {
      if (out.host_count == 0) {
        out.host = header.value;
        out.host_offset = offset_in(head, header.value);
      }
      out.host_count++;
    } else if (iequals(header.name, "connection")) {
      out.connection_close = out.connection_close || header_value_has_token(header.value, "close");
      out.connection_keep_alive =
          out.connection_keep_alive || header_value_has_token(header.value, "keep-alive");
    }
  }
  // RFC 9112 section 6.1: Transfer-Encoding = #transfer-coding needs at least one coding.
  if (out.has_transfer_encoding && out.transfer_coding_count == 0)
    return make_error(400, out.transfer_encoding_offset, "Transfer-Encoding without a coding");
  return kRuleHolds;
}

bool is_persistent(uint8_t version_minor, const FramingFields &fields) {
  if (fields.connection_close)
    return false;
  return version_minor >= 1 || fields.connection_keep_alive;
}

} // namespace regcache::http::header_rules

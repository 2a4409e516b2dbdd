// Rules shared by the request and response parsers: character classes, locating the head with the
// checks that can be decided before it is complete, field-line syntax, and reading the fields that
// decide framing (Content-Length, Transfer-Encoding, Connection, Host). Internal to http/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "http/message_head.h"

namespace regcache::http::header_rules {

// tchar (RFC 9110 section 5.6.2): method and field-name characters.
bool is_tchar(char c);
// field-vchar, SP or HTAB (RFC 9110 section 5.5); rejects NUL, CR, LF, other CTLs and DEL.
bool is_field_value_char(char c);
// Visible ASCII (0x21-0x7E): what a request-target may hold (RFC 9112 section 3.2, RFC 3986).
bool is_target_char(char c);
// reg-name, IP-literal and port characters of an authority without userinfo (RFC 3986 3.2).
bool is_authority_char(char c);
bool is_digit(char c);

bool is_token(std::string_view text);
// uri-host [ ":" port ] as in Host and absolute-form targets; "@" (userinfo) is rejected
// (RFC 9110 section 4.2.4). Empty is valid here; callers that need a host check that.
bool is_host_and_port(std::string_view text);

ParseResult make_error(uint16_t status, size_t offset, std::string_view reason);
constexpr ParseResult make_complete(size_t consumed) {
  return ParseResult{ParseResult::Kind::Complete, consumed, 0, 0, {}};
}
constexpr ParseResult make_incomplete() {
  return ParseResult{ParseResult::Kind::Incomplete, 0, 0, 0, {}};
}
// What the rule checks below return when the rule holds (Complete, nothing consumed).
inline constexpr ParseResult kRuleHolds = make_complete(0);

// Finds the end of the head and applies the checks that do not need all of it: bare CR / bare LF
// line endings and the header_bytes_max cap. Returns Complete with consumed = head end, Incomplete,
// or Error. An error, once returned for a prefix, is returned for every longer input too.
// `scan` says how much of `input` earlier calls checked: only the rest is looked at.
ParseResult locate_head(std::span<const char> input, const ParseLimits &limits, HeadScan &scan);

// Parses "HTTP/1.0" or "HTTP/1.1" (exactly 8 bytes); 400 when malformed, 505 for other versions.
ParseResult parse_http_version(std::string_view text, size_t offset, uint8_t &version_minor);

// Parses field lines starting at line_start up to the empty line that ends the head (the head
// ends at head.size(), which locate_head has checked). Fills storage[0, count).
ParseResult parse_field_lines(std::string_view head, size_t line_start, std::span<Header> storage,
                              const ParseLimits &limits, size_t &count);

// What the framing, persistence and Host fields say, once syntax-checked.
struct FramingFields {
  bool has_content_length = false;
  uint64_t content_length = 0;
  size_t content_length_offset = 0;
  bool has_transfer_encoding = false;
  size_t transfer_coding_count = 0; // across all Transfer-Encoding fields, in order
  size_t chunked_count = 0;
  bool chunked_is_final = false;   // the last transfer coding is chunked
  bool has_unknown_coding = false; // a coding other than chunked appears
  size_t transfer_encoding_offset = 0;
  size_t host_count = 0;
  std::string_view host;
  size_t host_offset = 0;
  bool connection_close = false;
  bool connection_keep_alive = false;
};

// Reads every Content-Length, Transfer-Encoding, Host and Connection field. Rejects with 400 the
// syntax errors that make framing ambiguous (see the RFC sections in the definition). `head` is
// the buffer the header views point into, used for error offsets.
ParseResult read_framing_fields(std::string_view head, std::span<const Header> headers,
                                FramingFields &out);

// RFC 9112 section 9.3: HTTP/1.1 is persistent unless "close"; HTTP/1.0 only with "keep-alive".
bool is_persistent(uint8_t version_minor, const FramingFields &fields);

} // namespace regcache::http::header_rules

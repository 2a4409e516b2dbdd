// The parsed form of an HTTP/1.x message head, shared by the request and response parsers.
// Every string_view points into the caller's input buffer (zero copy), so a head is valid only
// while that buffer is. The one exception is RequestHead::path for an absolute-form target with an
// empty path, which is the static literal "/" (RFC 9110 section 4.2.3).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace regcache::http {

struct Header {
  std::string_view name;
  std::string_view value; // trimmed of leading and trailing OWS (RFC 9112 section 5)
};

// How the body that follows the head is delimited (RFC 9112 section 6.3).
enum class BodyFraming : uint8_t {
  None,          // no body: requests without framing headers, HEAD/1xx/204/304 responses
  ContentLength, // exactly content_length bytes
  Chunked,       // chunked transfer coding; decode with ChunkedDecoder
  UntilClose,    // responses only: the body ends when the server closes the connection
};

struct ParseLimits {
  size_t header_bytes_max = 16 * 1024; // whole head: start line, field lines and final CRLF
  size_t header_count_max = 64;        // also capped by the size of the caller's header storage
};

struct ParseResult {
  enum class Kind : uint8_t { Complete, Incomplete, Error };
  Kind kind = Kind::Incomplete;
  size_t consumed = 0;           // Complete: bytes of the head including the final CRLFCRLF
  uint16_t error_status = 0;     // Error: 400, 431 (head too large / too many fields), 501, 505
  size_t error_offset = 0;       // Error: offset into the input where the problem was found
  std::string_view error_reason; // Error: static text naming the violated rule

  bool complete() const { return kind == Kind::Complete; }
  bool incomplete() const { return kind == Kind::Incomplete; }
  bool error() const { return kind == Kind::Error; }
};

// Where the parse of a head that arrives in pieces left off, so that the next call looks only
// at the bytes that came since (picohttpparser's last_len; STYLE rule 10): a head received in
// many pieces costs time linear in its size. One per head; start the next head (or a retry
// after an error) with a new one. Offsets count from the head's first byte, so a caller may
// move the partial head in its buffer, but not change it.
struct HeadScan {
  size_t checked_bytes = 0;   // input[0, checked_bytes) was searched and checked, and passed
  uint64_t scanned_bytes = 0; // bytes looked at over all calls: what a test counts
};

struct RequestHead {
  std::string_view method;
  std::string_view target;   // as received
  std::string_view path;     // target up to the first '?'; "*" for asterisk-form; empty for CONNECT
  std::string_view query;    // after the first '?', without it; empty when there is none
  uint8_t version_minor = 1; // HTTP/1.0 or HTTP/1.1 only
  std::span<const Header> headers;         // the prefix of the caller's storage that was filled
  BodyFraming framing = BodyFraming::None; // None, ContentLength or Chunked
  uint64_t content_length = 0;             // meaningful when framing == ContentLength
  bool keep_alive = true;                  // RFC 9112 section 9.3
  std::string_view host; // Host field value; the target's authority for absolute-form

  // First header with that name (ASCII case-insensitive); nullptr if none.
  const Header *find(std::string_view name) const;
};

struct ResponseHead {
  uint16_t status = 0; // 100-599
  std::string_view reason;
  uint8_t version_minor = 1;
  std::span<const Header> headers;
  BodyFraming framing = BodyFraming::None;
  // The Content-Length field value when one was received, also for HEAD and 304 responses where
  // it describes the representation rather than this message (framing is None there).
  uint64_t content_length = 0;
  bool keep_alive = true; // false for UntilClose framing

  const Header *find(std::string_view name) const;
};

// Where the header block ends. Searches only input[scan_from - 3 ..] for CRLFCRLF, so a caller
// that appends bytes can pass the previous input size and never rescan. Returns the offset just
// past the CRLFCRLF, or 0 when it is not there yet.
size_t find_head_end(std::span<const char> input, size_t scan_from);

// ASCII case-insensitive equality (field names, tokens; RFC 9110 section 5.1).
bool iequals(std::string_view a, std::string_view b);
// The value of one hex digit, either case; -1 for anything else (chunk sizes, %-escapes).
inline int hex_digit_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

// ASCII only: field names, tokens and host names are case-insensitive in ASCII alone.
inline char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
}
// OWS is SP and HTAB (RFC 9110 section 5.6.3).
inline bool is_ows(char c) {
  return c == ' ' || c == '\t';
}
// `text` without leading and trailing OWS.
std::string_view trim_ows(std::string_view text);

// True when the comma-separated list `value` holds `token` as one of its elements, compared ASCII
// case-insensitively, ignoring OWS around elements (RFC 9110 section 5.6.1). For Connection,
// Upgrade and similar token lists.
bool header_value_has_token(std::string_view value, std::string_view token);

} // namespace regcache::http

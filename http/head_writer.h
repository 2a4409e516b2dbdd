// Writes an HTTP/1.1 request or response head into a caller's fixed buffer. Never allocates; when
// the buffer is too small it stops writing and reports overflowed().
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace regcache::http {

class HeadWriter {
public:
  explicit HeadWriter(std::span<char> buffer) : buffer_(buffer) {}

  // "HTTP/1.1 404 Not Found\r\n"; status must be 100-599. First call only.
  void status_line(uint16_t status);
  // "GET /x HTTP/1.1\r\n"; a method that is not a token or a target that is not visible ASCII
  // is refused (field_rejected()). First call only.
  void request_line(std::string_view method, std::string_view target);
  // "name: value\r\n". A name that is not a token or a value with CR, LF, NUL or another control
  // byte is refused (field_rejected()): writing it would let the value split the message.
  void header(std::string_view name, std::string_view value);
  void header_uint(std::string_view name, uint64_t value);
  void end(); // the CRLF that ends the head

  bool overflowed() const { return overflowed_; }
  bool field_rejected() const { return field_rejected_; }
  // The head written so far; empty once overflowed() or field_rejected(), so a broken head can
  // never be sent by accident.
  std::string_view view() const;
  size_t size() const { return view().size(); }

private:
  void append(std::string_view bytes);
  bool ok() const { return !overflowed_ && !field_rejected_; }

  std::span<char> buffer_;
  size_t written_bytes_ = 0;
  bool overflowed_ = false;
  bool field_rejected_ = false;
};

// The standard reason phrase of a status code (RFC 9110 section 15); "" for unknown codes, which
// still makes a valid status line (RFC 9112 section 4).
std::string_view reason_phrase(uint16_t status);

} // namespace regcache::http

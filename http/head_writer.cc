#include "http/head_writer.h"

#include <cassert>
#include <cstring>

#include "http/header_rules.h"

namespace regcache::http {
namespace {

bool is_field_value(std::string_view value) {
  for (const char c : value) {
    if (!header_rules::is_field_value_char(c))
      return false;
  }
  return true;
}

bool is_request_target(std::string_view target) {
  if (target.empty())
    return false;
  for (const char c : target) {
    if (!header_rules::is_target_char(c))
      return false;
  }
  return true;
}

} // namespace

void HeadWriter::status_line(uint16_t status) {
  assert(written_bytes_ == 0 && "the status line comes first");
  assert(status >= 100 && status <= 599);
  if (status < 100 || status > 599) {
    field_rejected_ = true;
    return;
  }
  const char digits[3] = {char('0' + status / 100), char('0' + status / 10 % 10),
                          char('0' + status % 10)};
  append("HTTP/1.1 ");
  append(std::string_view(digits, sizeof(digits)));
  append(" ");
  append(reason_phrase(status));
  append("\r\n");
}

void HeadWriter::request_line(std::string_view method, std::string_view target) {
  assert(written_bytes_ == 0 && "the request line comes first");
  if (!header_rules::is_token(method) || !is_request_target(target)) {
    field_rejected_ = true;
    return;
  }
  append(method);
  append(" ");
  append(target);
  append(" HTTP/1.1\r\n");
}

void HeadWriter::header(std::string_view name, std::string_view value) {
  // Values may come from upstream or client data: refusing them is defined behaviour, no assert.
  if (!header_rules::is_token(name) || !is_field_value(value)) {
    field_rejected_ = true;
    return;
  }
  append(name);
  append(": ");
  append(value);
  append("\r\n");
}

void HeadWriter::header_uint(std::string_view name, uint64_t value) {
  char digits[20]; // 2^64 - 1 has 20 decimal digits
  size_t digit_count = 0;
  // Bounded: at most 20 iterations.
  do {
    digits[sizeof(digits) - 1 - digit_count++] = char('0' + value % 10);
    value /= 10;
  } while (value != 0);
  header(name, std::string_view(digits + sizeof(digits) - digit_count, digit_count));
}

void HeadWriter::end() {
  append("\r\n");
}

std::string_view HeadWriter::view() const {
  if (!ok())
    return {};
  return std::string_view(buffer_.data(), written_bytes_);
}

void HeadWriter::append(std::string_view bytes) {
  if (!ok())
    return;
  if (bytes.size() > buffer_.size() - written_bytes_) {
    overflowed_ = true;
    return;
  }
  if (!bytes.empty())
    std::memcpy(buffer_.data() + written_bytes_, bytes.data(), bytes.size());
  written_bytes_ += bytes.size();
  assert(written_bytes_ <= buffer_.size());
}

std::string_view reason_phrase(uint16_t status) {
  switch (status) {
  case 100:
    return "Continue";
  case 101:
    return "Switching Protocols";
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 202:
    return "Accepted";
  case 203:
    return "Non-Authoritative Information";
  case 204:
    return "No Content";
  case 205:
    return "Reset Content";
  case 206:
    return "Partial Content";
  case 300:
    return "Multiple Choices";
  case 301:
    return "Moved Permanently";
  case 302:
    return "Found";
  case 303:
    return "See Other";
  case 304:
    return "Not Modified";
  case 307:
    return "Temporary Redirect";
  case 308:
    return "Permanent Redirect";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 402:
    return "Payment Required";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 406:
    return "Not Acceptable";
  case 407:
    return "Proxy Authentication Required";
  case 408:
    return "Request Timeout";
  case 409:
    return "Conflict";
  case 410:
    return "Gone";
  case 411:
    return "Length Required";
  case 412:
    return "Precondition Failed";
  case 413:
    return "Content Too Large";
  case 414:
    return "URI Too Long";
  case 415:
    return "Unsupported Media Type";
  case 416:
    return "Range Not Satisfiable";
  case 417:
    return "Expectation Failed";
  case 421:
    return "Misdirected Request";
  case 422:
    return "Unprocessable Content";
  case 426:
    return "Upgrade Required";
  case 428:
    return "Precondition Required";
  case 429:
    return "Too Many Requests";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 501:
    return "Not Implemented";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  case 505:
    return "HTTP Version Not Supported";
  default:
    return "";
  }
}

} // namespace regcache::http

#include "http/response_parser.h"

#include <cassert>

#include "http/header_rules.h"

namespace regcache::http {
namespace {

using namespace header_rules;

constexpr size_t kVersionBytes = 8;    // "HTTP/1.1"
constexpr size_t kStatusCodeBytes = 3; // RFC 9110 section 15: status-code = 3DIGIT
constexpr size_t kStatusStart = kVersionBytes + 1;
constexpr size_t kStatusEnd = kStatusStart + kStatusCodeBytes;

// status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 section 4).
ParseResult read_status_line(std::string_view line, ResponseHead &out) {
  ParseResult result = parse_http_version(line.substr(0, kVersionBytes), 0, out.version_minor);
  if (result.error())
    return result;
  if (line.size() < kStatusEnd || line[kVersionBytes] != ' ')
    return make_error(400, kVersionBytes, "malformed status line");
  uint16_t status = 0;
  for (size_t i = kStatusStart; i < kStatusEnd; ++i) {
    if (!is_digit(line[i]))
      return make_error(400, i, "status code is not 3 digits");
    status = uint16_t(status * 10 + uint16_t(line[i] - '0'));
  }
  // RFC 9110 section 15: status codes are 100-599.
  if (status < 100 || status > 599)
    return make_error(400, kStatusStart, "status code out of range");
  // The SP before an empty reason-phrase is often missing in the wild; a recipient ignores the
  // reason anyway (RFC 9112 section 4), so "HTTP/1.1 200" is accepted.
  if (line.size() > kStatusEnd && line[kStatusEnd] != ' ')
    return make_error(400, kStatusEnd, "status code is not 3 digits");
  const std::string_view reason =
      line.size() > kStatusEnd ? line.substr(kStatusEnd + 1) : std::string_view{};
  // reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ) (RFC 9112 section 4).
  for (size_t i = 0; i < reason.size(); ++i) {
    if (!is_field_value_char(reason[i]))
      return make_error(400, kStatusEnd + 1 + i, "control character in reason phrase");
  }
  out.status = status;
  out.reason = reason;
  return kRuleHolds;
}

bool status_has_no_body(uint16_t status) {
  return (status >= 100 && status < 200) || status == 204 || status == 304;
}

ParseResult read_response_framing(const FramingFields &fields, bool request_was_head,
                                  ResponseHead &out) {
  if (fields.has_transfer_encoding) {
    // RFC 9112 section 6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing.
    if (out.version_minor == 0)
      return make_error(400, fields.transfer_encoding_offset, "Transfer-Encoding in HTTP/1.0");
    // RFC 9112 section 6.3 item 3: Transfer-Encoding overrides Content-Length, but a sender
    // with both is either broken or smuggling; we reject rather than guess (HAProxy does too).
    if (fields.has_content_length)
      return make_error(400, fields.content_length_offset, "Content-Length with Transfer-Encoding");
  }
  out.content_length = fields.has_content_length ? fields.content_length : 0;
  // RFC 9112 section 6.3 item 1: responses to HEAD, and 1xx, 204 and 304 responses, end at the
  // head whatever their framing fields say.
  if (request_was_head || status_has_no_body(out.status)) {
    out.framing = BodyFraming::None;
  } else if (fields.has_transfer_encoding) {
    // RFC 9112 section 6.3 item 4: chunked final means chunked; any other final coding means
    // the body runs until the server closes the connection.
    out.framing = fields.chunked_is_final ? BodyFraming::Chunked : BodyFraming::UntilClose;
  } else if (fields.has_content_length) {
    out.framing = BodyFraming::ContentLength; // RFC 9112 section 6.3 item 6
  } else {
    out.framing = BodyFraming::UntilClose; // RFC 9112 section 6.3 item 8
  }
  return kRuleHolds;
}

} // namespace

ParseResult parse_response(std::span<const char> input, std::span<Header> header_storage,
                           const ParseLimits &limits, bool request_was_head, ResponseHead &out) {
  HeadScan scan;
  return parse_response(input, header_storage, limits, request_was_head, out, scan);
}

ParseResult parse_response(std::span<const char> input, std::span<Header> header_storage,
                           const ParseLimits &limits, bool request_was_head, ResponseHead &out,
                           HeadScan &scan) {
  const ParseResult located = locate_head(input, limits, scan);
  if (!located.complete())
    return located;
  const std::string_view head(input.data(), located.consumed);
  // No empty lines may precede a status line: RFC 9112 section 2.2 allows skipping them only
  // before a request-line. An empty first line fails as a malformed version below.
  const size_t line_end = head.find('\r');
  ResponseHead parsed;
  ParseResult result = read_status_line(head.substr(0, line_end), parsed);
  if (result.error())
    return result;

  size_t header_count = 0;
  result = parse_field_lines(head, line_end + 2, header_storage, limits, header_count);
  if (result.error())
    return result;
  parsed.headers = header_storage.first(header_count);

  FramingFields fields;
  result = read_framing_fields(head, parsed.headers, fields);
  if (result.error())
    return result;
  result = read_response_framing(fields, request_was_head, parsed);
  if (result.error())
    return result;
  // RFC 9112 section 9.3, and a body delimited by close leaves nothing to reuse (section 9.8).
  parsed.keep_alive =
      is_persistent(parsed.version_minor, fields) && parsed.framing != BodyFraming::UntilClose;

  out = parsed;
  assert(located.consumed <= input.size());
  return located;
}

} // namespace regcache::http

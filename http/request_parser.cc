#include "http/request_parser.h"

#include <cassert>

#include "http/header_rules.h"

namespace regcache::http {
namespace {

using namespace header_rules;

// authority-form = uri-host ":" port (RFC 9112 section 3.2.3); the port is required.
bool is_authority_form(std::string_view target) {
  const size_t colon = target.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == target.size())
    return false;
  for (const char c : target.substr(colon + 1)) {
    if (!is_digit(c))
      return false;
  }
  return is_host_and_port(target.substr(0, colon));
}

void split_path_and_query(std::string_view path_and_query, RequestHead &out) {
  const size_t question = path_and_query.find('?');
  out.path = path_and_query.substr(0, question);
  out.query =
      question == std::string_view::npos ? std::string_view{} : path_and_query.substr(question + 1);
}

// Sets path, query and (for absolute-form) host from the request-target.
ParseResult read_target(std::string_view target, size_t offset, RequestHead &out) {
  assert(!target.empty());
  if (out.method == "CONNECT") {
    // RFC 9112 section 3.2.3: a CONNECT target is authority-form, and only CONNECT uses it.
    if (!is_authority_form(target))
      return make_error(400, offset, "CONNECT target is not authority-form");
    return kRuleHolds;
  }
  if (target.front() == '/') {
    split_path_and_query(target, out); // origin-form, RFC 9112 section 3.2.1
    return kRuleHolds;
  }
  if (target == "*") {
    // RFC 9112 section 3.2.4: asterisk-form is only used for a server-wide OPTIONS request.
    if (out.method != "OPTIONS")
      return make_error(400, offset, "asterisk-form target outside OPTIONS");
    out.path = target;
    return kRuleHolds;
  }
  // absolute-form (RFC 9112 section 3.2.2): a server MUST accept it; only http(s) URIs make sense
  // for us (RFC 9110 section 4.2).
  const size_t scheme_end = target.find("://");
  if (scheme_end == std::string_view::npos)
    return make_error(400, offset, "invalid request-target");
  const std::string_view scheme = target.substr(0, scheme_end);
  if (!iequals(scheme, "http") && !iequals(scheme, "https"))
    return make_error(400, offset, "unsupported URI scheme in request-target");
  const std::string_view rest = target.substr(scheme_end + 3);
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
  // RFC 9110 section 4.2.1: an http URI with an empty host is invalid; section 4.2.4: userinfo
  // is treated as an error.
  if (authority.empty() || !is_host_and_port(authority))
    return make_error(400, offset + scheme_end + 3, "invalid authority in request-target");
  split_path_and_query(rest.substr(authority.size()), out);
  if (out.path.empty())
    out.path = "/"; // RFC 9110 section 4.2.3: an empty path is equivalent to "/"
  // RFC 9112 section 3.2.2: with absolute-form the target's authority replaces the Host field.
  out.host = authority;
  return kRuleHolds;
}

ParseResult read_request_framing(const FramingFields &fields, RequestHead &out) {
  if (fields.has_transfer_encoding) {
    // RFC 9112 section 6.1: a server MAY reject a request with both; with both, one of two
    // hops is bound to disagree on where the body ends (request smuggling). We always reject.
    if (fields.has_content_length)
      return make_error(400, fields.content_length_offset, "Content-Length with Transfer-Encoding");
    // RFC 9112 section 6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing.
    if (out.version_minor == 0)
      return make_error(400, fields.transfer_encoding_offset, "Transfer-Encoding in HTTP/1.0");
    // RFC 9112 section 6.3 item 4: in a request, chunked must be the final coding, else 400.
    if (!fields.chunked_is_final)
      return make_error(400, fields.transfer_encoding_offset,
                        "final transfer coding is not chunked");
    // RFC 9112 section 6.1: a server SHOULD answer 501 to a transfer coding it does not know.
    if (fields.has_unknown_coding)
      return make_error(501, fields.transfer_encoding_offset, "unknown transfer coding");
    out.framing = BodyFraming::Chunked;
    return kRuleHolds;
  }
  if (fields.has_content_length) {
    out.framing = BodyFraming::ContentLength;
    out.content_length = fields.content_length;
    return kRuleHolds;
  }
  out.framing = BodyFraming::None; // RFC 9112 section 6.3 item 7: no body
  return kRuleHolds;
}

ParseResult read_host(const FramingFields &fields, RequestHead &out) {
  // RFC 9112 section 3.2: a server MUST respond 400 to an HTTP/1.1 request without Host, to any
  // request with several Host fields, and to a Host with an invalid value.
  if (fields.host_count > 1)
    return make_error(400, fields.host_offset, "several Host fields");
  if (fields.host_count == 0 && out.version_minor == 1)
    return make_error(400, 0, "missing Host");
  if (fields.host_count == 1 && !is_host_and_port(fields.host))
    return make_error(400, fields.host_offset, "invalid Host");
  if (out.host.empty()) {
    out.host = fields.host;
  } else if (fields.host_count == 1 && !iequals(fields.host, out.host)) {
    // Absolute-form set host from the target. RFC 9112 section 3.2.2 says to ignore Host then,
    // but a proxy in front may have routed by Host: a request naming two different hosts is
    // refused rather than read two ways (HAProxy's h1_validate_mismatch_authority).
    return make_error(400, fields.host_offset, "absolute-form authority differs from Host");
  }
  return kRuleHolds;
}

} // namespace

ParseResult parse_request(std::span<const char> input, std::span<Header> header_storage,
                          const ParseLimits &limits, RequestHead &out) {
  HeadScan scan;
  return parse_request(input, header_storage, limits, out, scan);
}

ParseResult parse_request(std::span<const char> input, std::span<Header> header_storage,
                          const ParseLimits &limits, RequestHead &out, HeadScan &scan) {
  const ParseResult located = locate_head(input, limits, scan);
  if (!located.complete())
    return located;
  const std::string_view head(input.data(), located.consumed);

  size_t line_start = 0;
  // RFC 9112 section 2.2: a server SHOULD ignore at least one empty line before the request-line
  // (a client's CRLF after a POST body). One is robustness; more is rejected.
  if (head.starts_with("\r\n"))
    line_start = 2;
  if (head.substr(line_start).starts_with("\r\n"))
    return make_error(400, line_start, "more than one empty line before the request line");

  const size_t line_end = head.find('\r', line_start);
  const std::string_view line = head.substr(line_start, line_end - line_start);
  RequestHead parsed;
  // request-line = method SP request-target SP HTTP-version (RFC 9112 section 3). Exactly one SP
  // between the parts: the lenient whitespace parsing that 3 permits is a desync risk.
  size_t method_end = 0;
  while (method_end < line.size() && is_tchar(line[method_end]))
    ++method_end;
  if (method_end == line.size() || line[method_end] != ' ')
    return make_error(400, line_start + method_end, "invalid character in method");
  if (method_end == 0)
    return make_error(400, line_start, "empty method");
  parsed.method = line.substr(0, method_end);

  const size_t target_start = method_end + 1;
  size_t target_end = target_start;
  while (target_end < line.size() && is_target_char(line[target_end]))
    ++target_end;
  if (target_end == line.size())
    return make_error(400, line_start + target_end, "request line without HTTP version");
  if (line[target_end] != ' ')
    return make_error(400, line_start + target_end, "invalid character in request-target");
  if (target_end == target_start)
    return make_error(400, line_start + target_start, "empty request-target");
  parsed.target = line.substr(target_start, target_end - target_start);

  ParseResult result = parse_http_version(line.substr(target_end + 1), line_start + target_end + 1,
                                          parsed.version_minor);
  if (result.error())
    return result;
  result = read_target(parsed.target, line_start + target_start, parsed);
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
  result = read_host(fields, parsed);
  if (result.error())
    return result;
  result = read_request_framing(fields, parsed);
  if (result.error())
    return result;
  parsed.keep_alive = is_persistent(parsed.version_minor, fields);

  out = parsed;
  assert(located.consumed <= input.size());
  return located;
}

bool request_prefix_is_plausible(std::span<const char> input) {
  constexpr size_t kMethodBytesMax = 32;
  size_t start = 0;
  // RFC 9112 section 2.2: one empty line before the request line is tolerated.
  if (input.size() >= 1 && input[0] == '\r')
    start = (input.size() >= 2 && input[1] == '\n') ? 2 : 1;
  for (size_t i = start; i < input.size(); ++i) {
    if (input[i] == ' ')
      return i > start;
    if (i - start >= kMethodBytesMax || !is_tchar(input[i]))
      return false;
  }
  return true;
}

} // namespace regcache::http

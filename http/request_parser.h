// HTTP/1.1 request head parser (RFC 9112 sections 2-7, RFC 9110). A pure function over the
// caller's buffer in the style of picohttpparser: no allocation, no I/O, no exceptions, views into
// the input, and a caller-sized header array.
#pragma once

#include <span>

#include "http/message_head.h"

namespace regcache::http {

// Parses the request head at the start of `input`.
//   Complete:   `out` describes the head; consumed = head bytes including the final CRLFCRLF
//               (with pipelining, the next request starts there).
//   Incomplete: the head has not ended yet; call again with more bytes (with a HeadScan, the
//               call looks only at the new ones).
//   Error:      respond with error_status and close. Checks that need only a prefix (bare CR/LF,
//               header_bytes_max) fail before the head is complete; once an input fails, every
//               longer input fails the same way.
// `out` is written only on Complete. Never reads past input.size().
ParseResult parse_request(std::span<const char> input, std::span<Header> header_storage,
                          const ParseLimits &limits, RequestHead &out);
// The same, resumed where the last call on this head left off (`scan`): a head fed in pieces
// is scanned once, not once per call.
ParseResult parse_request(std::span<const char> input, std::span<Header> header_storage,
                          const ParseLimits &limits, RequestHead &out, HeadScan &scan);

// False when `input`, the first bytes of a request not yet complete, cannot begin a valid
// request line: its method so far has a byte that is not a tchar (RFC 9110 section 5.6.2), or
// is longer than any method. Lets a server refuse a TLS ClientHello or binary junk at once
// instead of waiting for a line end that may never come.
bool request_prefix_is_plausible(std::span<const char> input);

} // namespace regcache::http

// HTTP/1.1 response head parser (RFC 9112 sections 4-7), for heads received from upstream
// registries. Same contract as parse_request: pure, zero copy, caller-sized header storage.
#pragma once

#include <span>

#include "http/message_head.h"

namespace regcache::http {

// Parses the response head at the start of `input`. `request_was_head` says the response answers
// a HEAD request, so it has no body whatever its fields say (RFC 9112 section 6.3 item 1).
// A 1xx response is complete on its own (framing None); parse the final response after it.
// Error statuses are those of parse_request; a proxy answers 502 to any of them.
// `out` is written only on Complete. Never reads past input.size().
ParseResult parse_response(std::span<const char> input, std::span<Header> header_storage,
                           const ParseLimits &limits, bool request_was_head, ResponseHead &out);
// The same, resumed where the last call on this head left off (`scan`): a head fed in pieces
// is scanned once, not once per call.
ParseResult parse_response(std::span<const char> input, std::span<Header> header_storage,
                           const ParseLimits &limits, bool request_was_head, ResponseHead &out,
                           HeadScan &scan);

} // namespace regcache::http

#include "http/chunked_decoder.h"

#include <algorithm>
#include <cassert>

#include "http/header_rules.h"
#include "http/message_head.h"

namespace regcache::http {

static_assert(ChunkedDecoder::kChunkBytesLimit >> 4 == uint64_t(1) << 56,
              "the overflow check below shifts by one hex digit");

ChunkedDecoder::Step ChunkedDecoder::decode(std::span<const char> input, size_t data_bytes_max) {
  assert(data_bytes_max > 0);
  size_t pos = 0;
  // Bounded: every iteration consumes at least one byte of input or returns.
  while (true) {
    switch (state_) {
    case State::Done:
      return Step{.kind = Step::Kind::Done, .consumed = pos, .data = {}};
    case State::Error:
      return Step{.kind = Step::Kind::Error, .consumed = pos, .data = {}};
    case State::Data: {
      if (pos == input.size())
        return Step{.kind = Step::Kind::NeedMore, .consumed = pos, .data = {}};
      assert(chunk_bytes_left_ > 0);
      const size_t piece_bytes =
          size_t(std::min<uint64_t>({chunk_bytes_left_, input.size() - pos, data_bytes_max}));
      const std::string_view piece(input.data() + pos, piece_bytes);
      chunk_bytes_left_ -= piece_bytes;
      if (chunk_bytes_left_ == 0)
        state_ = State::DataCr;
      return Step{.kind = Step::Kind::Data, .consumed = pos + piece_bytes, .data = piece};
    }
    case State::SizeFirstDigit:
    case State::SizeDigits:
    case State::SizeWhitespace:
    case State::Extension:
    case State::SizeLineLf:
    case State::DataCr:
    case State::DataLf:
    case State::TrailerLineStart:
    case State::TrailerLine:
    case State::TrailerLineLf:
    case State::FinalLf:
      if (pos == input.size())
        return Step{.kind = Step::Kind::NeedMore, .consumed = pos, .data = {}};
      consume_framing_byte(input[pos]);
      ++pos;
      break;
    }
  }
}

void ChunkedDecoder::consume_framing_byte(char c) {
  switch (state_) {
  case State::SizeFirstDigit:
  case State::SizeDigits:
  case State::SizeWhitespace:
  case State::Extension:
  case State::SizeLineLf:
    consume_chunk_line_byte(c);
    return;
  case State::DataCr:
    // RFC 9112 section 7.1: chunk-data is followed by CRLF; anything else (a bare LF, or data
    // longer than chunk-size said) means the two ends disagree on the framing.
    if (c == '\r')
      state_ = State::DataLf;
    else
      fail("chunk data not followed by CRLF");
    return;
  case State::DataLf:
    if (c == '\n') {
      state_ = State::SizeFirstDigit;
      chunk_line_bytes_ = 0;
      chunk_bytes_ = 0;
    } else {
      fail("chunk data not followed by CRLF");
    }
    return;
  case State::TrailerLineStart:
  case State::TrailerLine:
  case State::TrailerLineLf:
  case State::FinalLf:
    consume_trailer_byte(c);
    return;
  case State::Data:
  case State::Done:
  case State::Error:
    assert(false && "not a framing state");
    return;
  }
}

void ChunkedDecoder::consume_chunk_line_byte(char c) {
  // A bound on the chunk line, extensions included: they are ignored but must not be a way to
  // make us spin on an endless line.
  if (++chunk_line_bytes_ > limits_.chunk_line_bytes_max)
    return fail("chunk line too long");
  const int digit = hex_digit_value(c);
  switch (state_) {
  case State::SizeFirstDigit:
    // chunk-size = 1*HEXDIG (RFC 9112 section 7.1).
    if (digit < 0)
      return fail("chunk size is not hexadecimal");
    chunk_bytes_ = uint64_t(digit);
    state_ = State::SizeDigits;
    return;
  case State::SizeDigits:
    if (digit >= 0) {
      // RFC 9112 section 7.1: a recipient MUST anticipate large hexadecimal numerals and
      // prevent integer overflow; we cap at kChunkBytesLimit.
      if (chunk_bytes_ >= (kChunkBytesLimit >> 4))
        return fail("chunk size too large");
      chunk_bytes_ = chunk_bytes_ * 16 + uint64_t(digit);
    } else if (c == ';') {
      state_ = State::Extension;
    } else if (c == ' ' || c == '\t') {
      state_ = State::SizeWhitespace;
    } else if (c == '\r') {
      state_ = State::SizeLineLf;
    } else {
      fail("invalid character in chunk size");
    }
    return;
  case State::SizeWhitespace:
    // chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ): whitespace after
    // the size is allowed only before an extension.
    if (c == ';')
      state_ = State::Extension;
    else if (c != ' ' && c != '\t')
      fail("whitespace after chunk size without extension");
    return;
  case State::Extension:
    // RFC 9112 section 7.1.1: extensions we do not understand are ignored, but they may not hide
    // line endings or control bytes (a bare LF here is a known desync).
    if (c == '\r')
      state_ = State::SizeLineLf;
    else if (!header_rules::is_field_value_char(c))
      fail("control character in chunk extension");
    return;
  case State::SizeLineLf:
    if (c != '\n')
      return fail("bare CR in chunk line");
    if (chunk_bytes_ == 0) {
      state_ = State::TrailerLineStart; // last-chunk
      trailer_bytes_ = 0;
    } else {
      state_ = State::Data;
      chunk_bytes_left_ = chunk_bytes_;
    }
    return;
  case State::DataCr:
  case State::DataLf:
  case State::Data:
  case State::TrailerLineStart:
  case State::TrailerLine:
  case State::TrailerLineLf:
  case State::FinalLf:
  case State::Done:
  case State::Error:
    assert(false && "not a chunk line state");
    return;
  }
}

void ChunkedDecoder::consume_trailer_byte(char c) {
  // Trailer fields are dropped (RFC 9110 section 6.5.1 lets a recipient discard them), within a
  // bound, and with the head's line rules: CRLF only, no control bytes.
  if (++trailer_bytes_ > limits_.trailer_bytes_max)
    return fail("trailer section too large");
  switch (state_) {
  case State::TrailerLineStart:
    if (c == '\r')
      state_ = State::FinalLf;
    else if (header_rules::is_field_value_char(c))
      state_ = State::TrailerLine;
    else
      fail("invalid character in trailer section");
    return;
  case State::TrailerLine:
    if (c == '\r')
      state_ = State::TrailerLineLf;
    else if (!header_rules::is_field_value_char(c))
      fail("invalid character in trailer section");
    return;
  case State::TrailerLineLf:
    if (c == '\n')
      state_ = State::TrailerLineStart;
    else
      fail("bare CR in trailer section");
    return;
  case State::FinalLf:
    // chunked-body ends with the CRLF after the trailer section (RFC 9112 section 7.1).
    if (c == '\n')
      state_ = State::Done;
    else
      fail("bare CR at end of chunked body");
    return;
  case State::SizeFirstDigit:
  case State::SizeDigits:
  case State::SizeWhitespace:
  case State::Extension:
  case State::SizeLineLf:
  case State::Data:
  case State::DataCr:
  case State::DataLf:
  case State::Done:
  case State::Error:
    assert(false && "not a trailer state");
    return;
  }
}

void ChunkedDecoder::fail(std::string_view reason) {
  state_ = State::Error;
  error_reason_ = reason;
}

} // namespace regcache::http

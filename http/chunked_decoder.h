// Decoder for the chunked transfer coding (RFC 9112 section 7.1). A pure, resumable state machine:
// no allocation, no I/O, no exceptions; data views point into the caller's input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace regcache::http {

struct ChunkedLimits {
  size_t chunk_line_bytes_max = 4 * 1024; // chunk-size, chunk-ext and CRLF of one chunk line
  size_t trailer_bytes_max = 16 * 1024;   // the whole trailer section, final CRLF included
};

class ChunkedDecoder {
public:
  // Largest chunk-size accepted; 2^60 bytes is far beyond any blob and keeps size * 16 in range.
  static constexpr uint64_t kChunkBytesLimit = uint64_t(1) << 60;

  struct Step {
    enum class Kind : uint8_t { Data, NeedMore, Done, Error };
    Kind kind;
    size_t consumed;       // bytes of the input used by this step (framing and data)
    std::string_view data; // Kind::Data only: a piece of body inside the input, never empty
  };

  ChunkedDecoder() = default;
  explicit ChunkedDecoder(const ChunkedLimits &limits) : limits_(limits) {}

  // Consumes framing bytes and at most one piece of data; the caller loops, passing the input
  // after `consumed` each time, until NeedMore, Done or Error.
  //   Data:     `data` is body; more may follow in the same input.
  //   NeedMore: every byte was consumed (consumed == input.size()); call again with new bytes.
  //   Done:     the last chunk and the trailer section ended; consumed stops right after the final
  //             CRLF, so a pipelined message may start there. Later calls return Done, consumed 0.
  //   Error:    invalid framing; consumed includes the offending byte. Later calls return Error.
  // Chunk extensions and trailer fields are checked, bounded and dropped. A Data step holds at
  // most `data_bytes_max` (> 0) bytes, for a caller copying into a buffer of that size.
  Step decode(std::span<const char> input, size_t data_bytes_max = SIZE_MAX);

  bool done() const { return state_ == State::Done; }
  bool failed() const { return state_ == State::Error; }
  std::string_view error_reason() const { return error_reason_; } // static text; empty if none

private:
  enum class State : uint8_t {
    SizeFirstDigit, // chunk-size = 1*HEXDIG
    SizeDigits,
    SizeWhitespace, // BWS before ";" of a chunk extension
    Extension,      // chunk-ext up to CR
    SizeLineLf,     // LF ending the chunk line
    Data,           // chunk-data
    DataCr,         // CRLF after chunk-data
    DataLf,
    TrailerLineStart, // trailer-section = *( field-line CRLF ) then CRLF
    TrailerLine,
    TrailerLineLf,
    FinalLf,
    Done,
    Error,
  };

  void consume_framing_byte(char c);
  void consume_chunk_line_byte(char c);
  void consume_trailer_byte(char c);
  void fail(std::string_view reason);

  ChunkedLimits limits_;
  State state_ = State::SizeFirstDigit;
  uint64_t chunk_bytes_ = 0;      // chunk-size of the chunk line being read
  uint64_t chunk_bytes_left_ = 0; // data bytes of the current chunk not yet returned
  size_t chunk_line_bytes_ = 0;
  size_t trailer_bytes_ = 0;
  std::string_view error_reason_;
};

} // namespace regcache::http

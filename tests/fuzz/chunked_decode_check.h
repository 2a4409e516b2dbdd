// Invariants of ChunkedDecoder shared by the fuzz targets: run the decoder on the input whole and
// split in two at several points; every run must agree, consume no more than it was given, hand
// out data views inside its input, and consume everything when it asks for more.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "http/chunked_decoder.h"

#define FUZZ_CHECK(condition)                                                                      \
  do {                                                                                             \
    if (!(condition)) {                                                                            \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition);           \
      std::abort();                                                                                \
    }                                                                                              \
  } while (0)

namespace regcache::http::fuzz {

inline bool view_is_inside(std::span<const char> input, std::string_view view) {
  if (view.empty())
    return true;
  return view.data() >= input.data() && view.data() + view.size() <= input.data() + input.size();
}

struct ChunkedRun {
  ChunkedDecoder::Step::Kind kind = ChunkedDecoder::Step::Kind::NeedMore;
  std::string body;
  size_t consumed = 0;
};

// Feeds one piece until the decoder needs more, finishes or fails. Returns false once finished.
inline bool feed_piece(ChunkedDecoder &decoder, std::span<const char> piece, ChunkedRun &run) {
  // Bounded: every Data step consumes at least one byte; other kinds end the loop.
  const size_t steps_max = piece.size() + 1;
  for (size_t steps = 0; steps <= steps_max; ++steps) {
    const ChunkedDecoder::Step step = decoder.decode(piece);
    FUZZ_CHECK(step.consumed <= piece.size());
    run.consumed += step.consumed;
    switch (step.kind) {
    case ChunkedDecoder::Step::Kind::Data:
      FUZZ_CHECK(!step.data.empty());
      FUZZ_CHECK(view_is_inside(piece.first(step.consumed), step.data));
      run.body.append(step.data);
      piece = piece.subspan(step.consumed);
      break;
    case ChunkedDecoder::Step::Kind::NeedMore:
      FUZZ_CHECK(step.consumed == piece.size());
      FUZZ_CHECK(!decoder.done() && !decoder.failed());
      return true;
    case ChunkedDecoder::Step::Kind::Done:
      FUZZ_CHECK(decoder.done());
      run.kind = step.kind;
      return false;
    case ChunkedDecoder::Step::Kind::Error:
      FUZZ_CHECK(decoder.failed() && !decoder.error_reason().empty());
      run.kind = step.kind;
      return false;
    }
  }
  FUZZ_CHECK(false && "decoder made no progress");
  return false;
}

inline ChunkedRun decode_split(std::span<const char> input, size_t split,
                               const ChunkedLimits &limits) {
  ChunkedDecoder decoder(limits);
  ChunkedRun run;
  if (feed_piece(decoder, input.first(split), run))
    feed_piece(decoder, input.subspan(split), run);
  FUZZ_CHECK(run.consumed <= input.size());
  // Once finished, the decoder stays finished and consumes nothing more.
  if (run.kind != ChunkedDecoder::Step::Kind::NeedMore) {
    const ChunkedDecoder::Step again = decoder.decode(input);
    FUZZ_CHECK(again.kind == run.kind && again.consumed == 0);
  }
  return run;
}

inline void check_chunked_decoder(std::span<const char> input) {
  // Small limits so the fuzzer reaches them.
  const ChunkedLimits limits{.chunk_line_bytes_max = 64, .trailer_bytes_max = 256};
  const ChunkedRun whole = decode_split(input, input.size(), limits);
  if (whole.kind == ChunkedDecoder::Step::Kind::NeedMore)
    FUZZ_CHECK(whole.consumed == input.size());
  for (const size_t split : {size_t(0), size_t(1), input.size() / 3, input.size() / 2}) {
    if (split > input.size())
      continue;
    const ChunkedRun part = decode_split(input, split, limits);
    FUZZ_CHECK(part.kind == whole.kind);
    FUZZ_CHECK(part.consumed == whole.consumed);
    FUZZ_CHECK(part.body == whole.body);
  }
}

} // namespace regcache::http::fuzz

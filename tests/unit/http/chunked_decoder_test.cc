#include "http/chunked_decoder.h"

#include <algorithm>
#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include "tests/unit/http/guarded_input.h"

namespace regcache::http {
namespace {

using testing::GuardedInput;
using testing::view_is_inside;
using StepKind = ChunkedDecoder::Step::Kind;

struct DecodeOutcome {
  StepKind kind = StepKind::NeedMore; // Done, Error, or NeedMore when the input ran out
  std::string body;
  size_t consumed = 0; // input bytes the decoder used, in total
  std::string error_reason;

  bool operator==(const DecodeOutcome &) const = default;
};

[[maybe_unused]] void PrintTo(const DecodeOutcome &o, std::ostream *os) {
  const char *names[] = {"Data", "NeedMore", "Done", "Error"};
  *os << names[size_t(o.kind)] << " consumed=" << o.consumed << " body=\"" << o.body
      << "\" reason=\"" << o.error_reason << "\"";
}

// Feeds the input piece_bytes at a time. Bytes the decoder has not consumed yet are passed again
// with the next piece, always flush against a guard page.
DecodeOutcome decode_fed(std::string_view input, size_t piece_bytes, ChunkedLimits limits) {
  ChunkedDecoder decoder(limits);
  GuardedInput guarded(input.size());
  DecodeOutcome outcome;
  std::string pending;
  size_t fed_bytes = 0;
  piece_bytes = std::max<size_t>(piece_bytes, 1);
  // Bounded: every outer iteration feeds at least one byte or stops.
  while (true) {
    const size_t take = std::min(piece_bytes, input.size() - fed_bytes);
    pending.append(input.substr(fed_bytes, take));
    fed_bytes += take;
    // Bounded: each step but the last consumes at least one byte of pending.
    for (size_t steps = 0; steps <= input.size() + 1; ++steps) {
      const std::span<const char> bytes = guarded.place(pending);
      const ChunkedDecoder::Step step = decoder.decode(bytes);
      EXPECT_LE(step.consumed, bytes.size());
      if (step.kind == StepKind::Data) {
        EXPECT_FALSE(step.data.empty());
        EXPECT_TRUE(view_is_inside(bytes.first(step.consumed), step.data));
        outcome.body.append(step.data);
      } else {
        EXPECT_TRUE(step.data.empty());
      }
      if (step.kind == StepKind::NeedMore) {
        EXPECT_EQ(step.consumed, bytes.size()) << "NeedMore must consume everything";
      }
      outcome.consumed += step.consumed;
      pending.erase(0, step.consumed);
      if (step.kind == StepKind::Done || step.kind == StepKind::Error) {
        outcome.kind = step.kind;
        outcome.error_reason = decoder.error_reason();
        EXPECT_EQ(decoder.done(), step.kind == StepKind::Done);
        EXPECT_EQ(decoder.failed(), step.kind == StepKind::Error);
        return outcome;
      }
      if (step.kind == StepKind::NeedMore)
        break;
    }
    if (fed_bytes == input.size())
      return outcome;
  }
}

// Decodes whole, then fed 1, 2, 3 and 7 bytes at a time; all must agree.
DecodeOutcome decode(std::string_view input, ChunkedLimits limits = {}) {
  const DecodeOutcome whole = decode_fed(input, input.size(), limits);
  for (const size_t piece_bytes : {1, 2, 3, 7}) {
    EXPECT_EQ(decode_fed(input, piece_bytes, limits), whole)
        << "fed " << piece_bytes << " at a time";
  }
  return whole;
}

void expect_error(const DecodeOutcome &outcome, std::string_view reason) {
  EXPECT_EQ(outcome.kind, StepKind::Error);
  EXPECT_EQ(outcome.error_reason, reason);
}

TEST(ChunkedDecoder, DecodesSingleChunk) {
  const std::string_view input = "5\r\nhello\r\n0\r\n\r\n";
  const DecodeOutcome o = decode(input);
  EXPECT_EQ(o.kind, StepKind::Done);
  EXPECT_EQ(o.body, "hello");
  EXPECT_EQ(o.consumed, input.size());
}

TEST(ChunkedDecoder, DecodesSeveralChunks) {
  const DecodeOutcome o = decode("3\r\nabc\r\n1\r\nd\r\n2\r\nef\r\n0\r\n\r\n");
  EXPECT_EQ(o.kind, StepKind::Done);
  EXPECT_EQ(o.body, "abcdef");
}

TEST(ChunkedDecoder, DecodesEmptyBody) {
  const DecodeOutcome o = decode("0\r\n\r\n");
  EXPECT_EQ(o.kind, StepKind::Done);
  EXPECT_EQ(o.body, "");
}

TEST(ChunkedDecoder, DecodesUpperAndLowerCaseHexSizes) {
  const std::string body(26, 'z');
  const DecodeOutcome o =
      decode("A\r\n" + body.substr(0, 10) + "\r\n10\r\n" + body.substr(0, 16) + "\r\n0\r\n\r\n");
  EXPECT_EQ(o.kind, StepKind::Done);
  EXPECT_EQ(o.body, body);
}

TEST(ChunkedDecoder, DecodesSizeWithLeadingZeros) {
  const DecodeOutcome o = decode("0003\r\nabc\r\n000\r\n\r\n");
  EXPECT_EQ(o.kind, StepKind::Done);
  EXPECT_EQ(o.body, "abc");
}

TEST(ChunkedDecoder, DecodesDataThatContainsCrlf) {
  const DecodeOutcome o = decode("4\r\n\r\n\r\n\r\n0\r\n\r\n");
  EXPECT_EQ(o.kind, StepKind::Done);
  EXPECT_EQ(o.body, "\r\n\r\n");
}

TEST(ChunkedDecoder, DecodesLargeChunkSplitAcrossReads) {
  const std::string data(5000, 'q');
  const DecodeOutcome o = decode("1388\r\n" + data + "\r\n0\r\n\r\n");
  EXPECT_EQ(o.kind, StepKind::Done);
  EXPECT_EQ(o.body, data);
}

TEST(ChunkedDecoder, IgnoresChunkExtensions) {
  const DecodeOutcome o = decode("5;name=value;quoted=\"a b\"\r\nhello\r\n0;last\r\n\r\n");
  EXPECT_EQ(o.kind, StepKind::Done);
  EXPECT_EQ(o.body, "hello");
}

TEST(ChunkedDecoder, AcceptsWhitespaceBeforeChunkExtension) {
  EXPECT_EQ(decode("5 \t;ext\r\nhello\r\n0\r\n\r\n").kind, StepKind::Done);
}

TEST(ChunkedDecoder, RejectsWhitespaceAfterSizeWithoutExtension) {
  expect_error(decode("5 \r\nhello\r\n0\r\n\r\n"), "whitespace after chunk size without extension");
}

TEST(ChunkedDecoder, RejectsOverlongChunkExtension) {
  const std::string input = "5;" + std::string(4096, 'e') + "\r\nhello\r\n0\r\n\r\n";
  const DecodeOutcome o = decode(input);
  expect_error(o, "chunk line too long");
  EXPECT_EQ(o.consumed, 4097u);
}

TEST(ChunkedDecoder, AcceptsChunkExtensionUpToTheBound) {
  const ChunkedLimits limits{.chunk_line_bytes_max = 16, .trailer_bytes_max = 64};
  EXPECT_EQ(decode("5;" + std::string(12, 'e') + "\r\nhello\r\n0\r\n\r\n", limits).kind,
            StepKind::Done);
  expect_error(decode("5;" + std::string(13, 'e') + "\r\nhello\r\n0\r\n\r\n", limits),
               "chunk line too long");
}

TEST(ChunkedDecoder, RejectsBareLfInChunkExtension) {
  expect_error(decode("5;a\nb\r\nhello\r\n0\r\n\r\n"), "control character in chunk extension");
}

TEST(ChunkedDecoder, RejectsMissingChunkSize) {
  expect_error(decode("\r\nhello\r\n0\r\n\r\n"), "chunk size is not hexadecimal");
}

TEST(ChunkedDecoder, RejectsNonHexChunkSize) {
  expect_error(decode("g\r\n"), "chunk size is not hexadecimal");
  expect_error(decode("5g\r\n"), "invalid character in chunk size");
  expect_error(decode("-5\r\n"), "chunk size is not hexadecimal");
}

TEST(ChunkedDecoder, RejectsChunkSizeOf2To60) {
  const DecodeOutcome o = decode("1000000000000000\r\n");
  expect_error(o, "chunk size too large");
  EXPECT_EQ(o.consumed, 16u);
}

TEST(ChunkedDecoder, RejectsChunkSizeThatOverflows64Bits) {
  expect_error(decode("100000000000000000\r\n"), "chunk size too large");
}

TEST(ChunkedDecoder, AcceptsChunkSizeJustBelow2To60) {
  const std::string_view input = "fffffffffffffff\r\nabc";
  const DecodeOutcome o = decode(input);
  EXPECT_EQ(o.kind, StepKind::NeedMore);
  EXPECT_EQ(o.body, "abc");
  EXPECT_EQ(o.consumed, input.size());
}

TEST(ChunkedDecoder, RejectsBareLfAfterChunkSize) {
  expect_error(decode("5\nhello\r\n0\r\n\r\n"), "invalid character in chunk size");
}

TEST(ChunkedDecoder, RejectsBareCrAfterChunkSize) {
  expect_error(decode("5\rhello\r\n0\r\n\r\n"), "bare CR in chunk line");
}

TEST(ChunkedDecoder, RejectsBareLfAfterChunkData) {
  const DecodeOutcome o = decode("5\r\nhello\n0\r\n\r\n");
  expect_error(o, "chunk data not followed by CRLF");
  EXPECT_EQ(o.body, "hello");
}

TEST(ChunkedDecoder, RejectsCrWithoutLfAfterChunkData) {
  expect_error(decode("5\r\nhello\rX0\r\n\r\n"), "chunk data not followed by CRLF");
}

TEST(ChunkedDecoder, RejectsDataLongerThanChunkSize) {
  expect_error(decode("5\r\nhello!\r\n0\r\n\r\n"), "chunk data not followed by CRLF");
}

TEST(ChunkedDecoder, SkipsTrailerFields) {
  const std::string_view input = "5\r\nhello\r\n0\r\nDigest: sha-256=x\r\nX-B:\tc\r\n\r\n";
  const DecodeOutcome o = decode(input);
  EXPECT_EQ(o.kind, StepKind::Done);
  EXPECT_EQ(o.body, "hello");
  EXPECT_EQ(o.consumed, input.size());
}

TEST(ChunkedDecoder, RejectsOversizedTrailerSection) {
  const ChunkedLimits limits{.chunk_line_bytes_max = 4096, .trailer_bytes_max = 32};
  expect_error(decode("0\r\nX-Trailer: " + std::string(40, 't') + "\r\n\r\n", limits),
               "trailer section too large");
}

TEST(ChunkedDecoder, AcceptsTrailerSectionOfExactlyTheBound) {
  const std::string trailer = "X: abc\r\n\r\n";
  const ChunkedLimits limits{.chunk_line_bytes_max = 4096, .trailer_bytes_max = trailer.size()};
  EXPECT_EQ(decode("0\r\n" + trailer, limits).kind, StepKind::Done);
}

TEST(ChunkedDecoder, RejectsBareLfInTrailerSection) {
  expect_error(decode("0\r\nX: a\nY: b\r\n\r\n"), "invalid character in trailer section");
}

TEST(ChunkedDecoder, RejectsBareLfAsFinalLineEnding) {
  expect_error(decode("0\r\n\n"), "invalid character in trailer section");
}

TEST(ChunkedDecoder, RejectsCrWithoutLfAtTheEnd) {
  expect_error(decode("0\r\n\rX"), "bare CR at end of chunked body");
}

TEST(ChunkedDecoder, StopsRightAfterTheFinalCrlf) {
  const std::string_view body = "3\r\nabc\r\n0\r\n\r\n";
  const DecodeOutcome o = decode(std::string(body) + "GET / HTTP/1.1\r\n");
  EXPECT_EQ(o.kind, StepKind::Done);
  EXPECT_EQ(o.consumed, body.size());
}

TEST(ChunkedDecoder, NeedsMoreAndConsumesAllOfAPartialInput) {
  const std::string_view input = "5\r\nhel";
  const DecodeOutcome o = decode(input);
  EXPECT_EQ(o.kind, StepKind::NeedMore);
  EXPECT_EQ(o.body, "hel");
  EXPECT_EQ(o.consumed, input.size());
}

TEST(ChunkedDecoder, ReturnsOneDataPiecePerCallPointingIntoTheInput) {
  const std::string input = "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
  ChunkedDecoder decoder;
  const std::span<const char> bytes(input.data(), input.size());
  ChunkedDecoder::Step step = decoder.decode(bytes);
  ASSERT_EQ(step.kind, StepKind::Data);
  EXPECT_EQ(step.data, "abc");
  EXPECT_EQ(step.data.data(), input.data() + 3);
  EXPECT_EQ(step.consumed, 6u);
  step = decoder.decode(bytes.subspan(6));
  ASSERT_EQ(step.kind, StepKind::Data);
  EXPECT_EQ(step.data, "de");
  EXPECT_EQ(step.data.data(), input.data() + 11);
  step = decoder.decode(bytes.subspan(6 + step.consumed));
  EXPECT_EQ(step.kind, StepKind::Done);
  EXPECT_TRUE(decoder.done());
}

TEST(ChunkedDecoder, StaysDoneAfterDone) {
  ChunkedDecoder decoder;
  const std::string input = "0\r\n\r\n5\r\n";
  EXPECT_EQ(decoder.decode(std::span<const char>(input.data(), 5)).kind, StepKind::Done);
  const ChunkedDecoder::Step again = decoder.decode(std::span<const char>(input.data() + 5, 3));
  EXPECT_EQ(again.kind, StepKind::Done);
  EXPECT_EQ(again.consumed, 0u);
}

TEST(ChunkedDecoder, StaysFailedAfterError) {
  ChunkedDecoder decoder;
  const std::string input = "x0\r\n\r\n";
  EXPECT_EQ(decoder.decode(std::span<const char>(input.data(), 1)).kind, StepKind::Error);
  const ChunkedDecoder::Step again = decoder.decode(std::span<const char>(input.data() + 1, 5));
  EXPECT_EQ(again.kind, StepKind::Error);
  EXPECT_EQ(again.consumed, 0u);
  EXPECT_TRUE(decoder.failed());
}

TEST(ChunkedDecoder, NeedsMoreOnEmptyInputWithoutConsuming) {
  ChunkedDecoder decoder;
  const ChunkedDecoder::Step step = decoder.decode({});
  EXPECT_EQ(step.kind, StepKind::NeedMore);
  EXPECT_EQ(step.consumed, 0u);
}

TEST(ChunkedDecoder, DataStepsStayWithinTheCallersBound) {
  // A caller copying into a small buffer gets the chunk in pieces of at most that size, and the
  // framing after it is still decoded: the same body, the same end.
  const std::string data(5000, 'x');
  const std::string input = "1388\r\n" + data + "\r\n3\r\nabc\r\n0\r\n\r\n";
  ChunkedDecoder decoder;
  std::span<const char> rest(input.data(), input.size());
  std::string body;
  size_t data_steps = 0;
  // Bounded: every step consumes at least one byte until Done.
  for (size_t steps = 0; steps <= input.size(); ++steps) {
    const ChunkedDecoder::Step step = decoder.decode(rest, 512);
    rest = rest.subspan(step.consumed);
    if (step.kind != StepKind::Data) {
      EXPECT_EQ(step.kind, StepKind::Done);
      break;
    }
    EXPECT_LE(step.data.size(), 512u);
    body.append(step.data);
    ++data_steps;
  }
  EXPECT_TRUE(decoder.done());
  EXPECT_TRUE(rest.empty());
  EXPECT_EQ(body, data + "abc");
  EXPECT_EQ(data_steps, 5000u / 512 + 1 + 1); // 9 full, 1 of 392, then "abc"
}

} // namespace
} // namespace regcache::http

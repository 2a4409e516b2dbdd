#include "http/chunked_encoder.h"

#include <array>
#include <string>

#include <gtest/gtest.h>

#include "http/chunked_decoder.h"

namespace regcache::http {
namespace {

std::string chunk_header(uint64_t size) {
  std::array<char, kChunkHeaderBytesMax> buffer{};
  const size_t length = format_chunk_header(buffer, size);
  return std::string(buffer.data(), length);
}

TEST(ChunkedEncoder, FormatsChunkHeaderInLowercaseHex) {
  EXPECT_EQ(chunk_header(0x1a2b), "1a2b\r\n");
}

TEST(ChunkedEncoder, FormatsOneByteChunkHeader) {
  EXPECT_EQ(chunk_header(1), "1\r\n");
}

TEST(ChunkedEncoder, FormatsLargestSizeInEighteenBytes) {
  EXPECT_EQ(chunk_header(UINT64_MAX), "ffffffffffffffff\r\n");
}

TEST(ChunkedEncoder, KeepsZerosInsideTheSize) {
  EXPECT_EQ(chunk_header(0x100), "100\r\n");
}

TEST(ChunkedEncoder, ProducesWhatTheDecoderReadsBack) {
  const std::string data = "registry blob bytes";
  const std::string encoded = chunk_header(data.size()) + data + std::string(kChunkTrailer) +
                              chunk_header(3) + "xyz" + std::string(kChunkTrailer) +
                              std::string(kLastChunk);
  ChunkedDecoder decoder;
  std::string body;
  std::span<const char> rest(encoded.data(), encoded.size());
  // Bounded: each step consumes bytes until Done.
  for (int steps = 0; steps < 16 && !decoder.done(); ++steps) {
    const ChunkedDecoder::Step step = decoder.decode(rest);
    ASSERT_NE(step.kind, ChunkedDecoder::Step::Kind::Error);
    body.append(step.data);
    rest = rest.subspan(step.consumed);
  }
  EXPECT_TRUE(decoder.done());
  EXPECT_TRUE(rest.empty());
  EXPECT_EQ(body, data + "xyz");
}

} // namespace
} // namespace regcache::http

#include "registry/cache/sha256.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>

namespace regcache::registry {
namespace {

// FIPS 180-2 appendix B and the well-known empty-input value.
constexpr std::string_view kEmptyDigest =
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr std::string_view kAbcDigest =
    "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr std::string_view kTwoBlockInput =
    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
constexpr std::string_view kTwoBlockDigest =
    "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
constexpr std::string_view kMillionADigest =
    "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

std::string test_input(size_t size) {
  std::string input(size, '\0');
  for (size_t i = 0; i < size; ++i)
    input[i] = static_cast<char>((i * 131 + 7) & 0xFF);
  return input;
}

TEST(Sha256Test, EmptyInputMatchesKnownDigest) {
  Sha256 hasher;
  EXPECT_EQ(to_string(hasher.finish()), kEmptyDigest);
}

TEST(Sha256Test, AbcMatchesKnownDigest) {
  Sha256 hasher;
  hasher.update(std::string_view("abc"));
  EXPECT_EQ(to_string(hasher.finish()), kAbcDigest);
}

TEST(Sha256Test, TwoBlockMessageMatchesKnownDigest) {
  EXPECT_EQ(to_string(sha256_of(kTwoBlockInput)), kTwoBlockDigest);
}

TEST(Sha256Test, MillionRepetitionsOfAMatchKnownDigest) {
  const std::string input(1'000'000, 'a');
  EXPECT_EQ(to_string(sha256_of(input)), kMillionADigest);
}

TEST(Sha256Test, ByteByByteUpdatesEqualOneShot) {
  const std::string input = test_input(1000);
  Sha256 hasher;
  for (char byte : input)
    hasher.update(std::span<const char>(&byte, 1));
  EXPECT_EQ(hasher.finish(), sha256_of(input));
}

TEST(Sha256Test, UnevenChunkUpdatesEqualOneShot) {
  const std::string input = test_input(100'000);
  Sha256 hasher;
  size_t offset = 0;
  for (size_t chunk = 1; offset < input.size(); chunk = chunk * 3 + 1) {
    const size_t size = std::min(chunk, input.size() - offset);
    hasher.update(std::span<const char>(input.data() + offset, size));
    offset += size;
  }
  EXPECT_EQ(hasher.finish(), sha256_of(input));
}

TEST(Sha256Test, EmptyUpdateChangesNothing) {
  Sha256 hasher;
  hasher.update(std::string_view("ab"));
  hasher.update(std::span<const char>());
  hasher.update(std::string_view("c"));
  EXPECT_EQ(to_string(hasher.finish()), kAbcDigest);
}

TEST(Sha256Test, FinishLeavesHasherReadyForNextInput) {
  Sha256 hasher;
  hasher.update(std::string_view("something else"));
  (void)hasher.finish();
  hasher.update(std::string_view("abc"));
  EXPECT_EQ(to_string(hasher.finish()), kAbcDigest);
}

TEST(Sha256Test, ResetDiscardsInputSoFar) {
  Sha256 hasher;
  hasher.update(std::string_view("discarded"));
  hasher.reset();
  EXPECT_EQ(to_string(hasher.finish()), kEmptyDigest);
}

TEST(Sha256Test, MoveConstructedHasherContinuesTheDigest) {
  Sha256 first;
  first.update(std::string_view("a"));
  Sha256 second(std::move(first));
  second.update(std::string_view("bc"));
  EXPECT_EQ(to_string(second.finish()), kAbcDigest);
}

TEST(Sha256Test, MoveAssignedHasherContinuesTheDigest) {
  Sha256 source;
  source.update(std::string_view("ab"));
  Sha256 target;
  target.update(std::string_view("replaced"));
  target = std::move(source);
  target.update(std::string_view("c"));
  EXPECT_EQ(to_string(target.finish()), kAbcDigest);
}

} // namespace
} // namespace regcache::registry

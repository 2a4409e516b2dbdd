// The manifests held in memory: what goes in comes back, the bounds hold (total bytes, bytes
// per manifest, off at 0), the least recently used go first, and a reference taken for a send
// outlives a drop.
#include "registry/cache/manifest_memory.h"

#include <gtest/gtest.h>

#include <span>
#include <string>

#include "registry/cache/sha256.h"

namespace regcache::registry {
namespace {

Digest digest_of(const std::string &bytes) {
  return sha256_of(std::span<const char>(bytes));
}

const MediaTypeName kIndexType = intern_media_type("application/vnd.oci.image.index.v1+json");

TEST(ManifestMemory, AHeldManifestComesBackWithItsTypeAndDigest) {
  ManifestMemory memory;
  memory.configure(1 << 20, 64 << 10);
  const std::string bytes = "{\"schemaVersion\":2}";
  memory.put(digest_of(bytes), kIndexType, bytes);
  HeldManifestRef held = memory.find(digest_of(bytes));
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(held->bytes, bytes);
  EXPECT_EQ(held->media_type.view(), kIndexType.view());
  EXPECT_EQ(held->digest, digest_of(bytes));
  EXPECT_EQ(memory.bytes_held(), bytes.size());
  EXPECT_EQ(memory.find(digest_of("other")), nullptr);
}

TEST(ManifestMemory, AManifestLargerThanTheEntryBoundIsNotHeld) {
  ManifestMemory memory;
  memory.configure(1 << 20, 100);
  const std::string large(101, 'x');
  const std::string fits(100, 'y');
  EXPECT_FALSE(memory.fits(large.size()));
  memory.put(digest_of(large), kIndexType, large);
  memory.put(digest_of(fits), kIndexType, fits);
  EXPECT_EQ(memory.find(digest_of(large)), nullptr);
  EXPECT_NE(memory.find(digest_of(fits)), nullptr);
}

TEST(ManifestMemory, ZeroBytesTurnsItOff) {
  ManifestMemory memory;
  memory.configure(0, 64 << 10);
  const std::string bytes = "{}";
  EXPECT_FALSE(memory.fits(bytes.size()));
  memory.put(digest_of(bytes), kIndexType, bytes);
  EXPECT_EQ(memory.find(digest_of(bytes)), nullptr);
  EXPECT_EQ(memory.count(), 0u);
}

TEST(ManifestMemory, PastTheTotalTheLeastRecentlyUsedGoFirst) {
  ManifestMemory memory;
  memory.configure(3000, 1000);
  const std::string a(1000, 'a'), b(1000, 'b'), c(1000, 'c'), d(1000, 'd');
  memory.put(digest_of(a), kIndexType, a);
  memory.put(digest_of(b), kIndexType, b);
  memory.put(digest_of(c), kIndexType, c);
  ASSERT_NE(memory.find(digest_of(a)), nullptr); // a is now the most recently used
  memory.put(digest_of(d), kIndexType, d);
  EXPECT_LE(memory.bytes_held(), 3000u);
  EXPECT_NE(memory.find(digest_of(a)), nullptr);
  EXPECT_EQ(memory.find(digest_of(b)), nullptr);
  EXPECT_NE(memory.find(digest_of(c)), nullptr);
  EXPECT_NE(memory.find(digest_of(d)), nullptr);
}

TEST(ManifestMemory, PuttingTheSameDigestTwiceCountsItOnce) {
  ManifestMemory memory;
  memory.configure(3000, 1000);
  const std::string bytes(500, 'a');
  memory.put(digest_of(bytes), kIndexType, bytes);
  memory.put(digest_of(bytes), kIndexType, bytes);
  EXPECT_EQ(memory.bytes_held(), 500u);
  EXPECT_EQ(memory.count(), 1u);
}

TEST(ManifestMemory, AReferenceTakenForASendOutlivesADrop) {
  ManifestMemory memory;
  memory.configure(3000, 1000);
  const std::string bytes(500, 'a');
  memory.put(digest_of(bytes), kIndexType, bytes);
  HeldManifestRef held = memory.find(digest_of(bytes));
  memory.drop(digest_of(bytes));
  EXPECT_EQ(memory.find(digest_of(bytes)), nullptr);
  EXPECT_EQ(memory.bytes_held(), 0u);
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(held->bytes, bytes);
}

TEST(ManifestMemory, AnEmptyTypeIsNotHeld) {
  ManifestMemory memory;
  memory.configure(3000, 1000);
  const std::string bytes = "{}";
  memory.put(digest_of(bytes), MediaTypeName(), bytes);
  EXPECT_EQ(memory.find(digest_of(bytes)), nullptr);
}

TEST(MediaTypeName, TheSameSpellingIsHeldOnce) {
  const MediaTypeName first = intern_media_type("application/x-test-once");
  const MediaTypeName second = intern_media_type(std::string("application/x-test-once"));
  EXPECT_EQ(first.view(), "application/x-test-once");
  EXPECT_EQ(first.view().data(), second.view().data());
  EXPECT_TRUE(intern_media_type("").empty());
  EXPECT_TRUE(intern_media_type(std::string(kMediaTypeNameBytesMax + 1, 'x')).empty());
  EXPECT_FALSE(intern_media_type(std::string(kMediaTypeNameBytesMax, 'x')).empty());
}

} // namespace
} // namespace regcache::registry

#include "registry/cache/tag_store.h"

#include <gtest/gtest.h>

namespace regcache::registry {
namespace {

TagEntry sample_entry() {
  TagEntry entry;
  entry.digest = *parse_sha256_digest("sha256:" + std::string(64, 'a'));
  entry.size_bytes = 1234;
  entry.confirmed_unix_ms = 1700000000123;
  entry.media_type = "application/vnd.oci.image.index.v1+json";
  return entry;
}

TEST(TagStoreTest, EntryTextRoundTrips) {
  TagEntry parsed;
  ASSERT_TRUE(parse_tag_entry(format_tag_entry(sample_entry()), parsed));
  EXPECT_EQ(parsed.digest, sample_entry().digest);
  EXPECT_EQ(parsed.size_bytes, 1234u);
  EXPECT_EQ(parsed.confirmed_unix_ms, 1700000000123);
  EXPECT_EQ(parsed.media_type, "application/vnd.oci.image.index.v1+json");
}

TEST(TagStoreTest, TruncatedEntryIsRejected) {
  std::string text = format_tag_entry(sample_entry());
  TagEntry parsed;
  for (size_t cut = 0; cut + 1 < text.size(); ++cut) {
    EXPECT_FALSE(parse_tag_entry(std::string_view(text).substr(0, cut), parsed))
        << "cut at " << cut;
  }
}

TEST(TagStoreTest, EntryWithBadDigestIsRejected) {
  TagEntry parsed;
  EXPECT_FALSE(parse_tag_entry("sha256:xyz 1 2\napplication/json\n", parsed));
  EXPECT_FALSE(
      parse_tag_entry("sha256:" + std::string(64, 'a') + " -1 2\napplication/json\n", parsed));
}

TEST(TagStoreTest, PathKeepsUpstreamsAndAcceptKindsApart) {
  std::string a, b, c;
  ASSERT_TRUE(tag_entry_path(TagKey{"127.0.0.1:5000", "library/nginx", "1.25", "k1"}, a));
  ASSERT_TRUE(tag_entry_path(TagKey{"ghcr.io", "library/nginx", "1.25", "k1"}, b));
  ASSERT_TRUE(tag_entry_path(TagKey{"127.0.0.1:5000", "library/nginx", "1.25", "k2"}, c));
  EXPECT_EQ(a, "tags/127.0.0.1_5000/library/nginx/1.25@k1");
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
}

TEST(TagStoreTest, PathRejectsTraversal) {
  std::string path;
  EXPECT_FALSE(tag_entry_path(TagKey{"host", "a/../b", "t", "k"}, path));
  EXPECT_FALSE(tag_entry_path(TagKey{"host", "a//b", "t", "k"}, path));
  EXPECT_FALSE(tag_entry_path(TagKey{"..", "a", "t", "k"}, path));
  EXPECT_FALSE(tag_entry_path(TagKey{"host", "a", "..", "k"}, path));
  EXPECT_FALSE(tag_entry_path(TagKey{"host", "a", "t", ""}, path));
}

} // namespace
} // namespace regcache::registry

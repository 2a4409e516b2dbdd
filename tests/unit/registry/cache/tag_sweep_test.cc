#include "registry/cache/tag_sweep.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "registry/api/accept_kind.h"
#include "registry/cache/index_snapshot.h"
#include "registry/cache/tag_store.h"
#include "tests/unit/registry/cache/store_on_ring.h"

namespace regcache::registry {
namespace {

Digest digest_of(char hex) {
  return *parse_sha256_digest("sha256:" + std::string(64, hex));
}

TagEntry entry_naming(char hex, uint8_t mask) {
  TagEntry entry;
  entry.digest = digest_of(hex);
  entry.size_bytes = 10;
  entry.confirmed_unix_ms = 1000;
  entry.media_type = intern_media_type(kMediaTypeOciIndex);
  entry.accept_mask = mask;
  return entry;
}

TEST(DropEntriesTest, DropsOnlyTheEntriesNamingAnEvictedDigest) {
  std::vector<TagEntry> entries = {entry_naming('a', 1), entry_naming('b', 2),
                                   entry_naming('a', 3)};
  std::vector<Digest> evicted = {digest_of('a'), digest_of('c')};
  std::sort(evicted.begin(), evicted.end(), digest_less);
  EXPECT_TRUE(drop_entries_naming(entries, evicted));
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].digest, digest_of('b'));
  EXPECT_FALSE(drop_entries_naming(entries, evicted));
}

class TagSweepTest : public StoreOnRingTest {
protected:
  void SetUp() override {
    StoreOnRingTest::SetUp();
    tags_ = std::make_unique<TagStore>(store_, 0); // the files alone (tag_index_test: memory)
  }
  std::unique_ptr<TagStore> tags_;
};

TEST_F(TagSweepTest, RewritesTagsThatKeepAnEntryAndRemovesTagsLeftWithout) {
  const TagKey both{"registry.example", "team/app", "v1"};
  const TagKey only_evicted{"registry.example", "team/app", "v2"};
  ASSERT_TRUE(run(tags_->save(both, entry_naming('a', 1))));
  ASSERT_TRUE(run(tags_->save(both, entry_naming('b', 2))));
  ASSERT_TRUE(run(tags_->save(only_evicted, entry_naming('a', 1))));

  const std::vector<Digest> evicted = {digest_of('a')};
  const TagSweepReport report = sweep_tag_entries(store_, evicted);
  EXPECT_EQ(report.files_seen, 2u);
  EXPECT_EQ(report.entries_dropped, 2u);
  EXPECT_EQ(report.files_removed, 1u);

  TagEntry loaded;
  EXPECT_FALSE(run(tags_->load(both, 1, loaded)) && loaded.digest == digest_of('a'));
  ASSERT_TRUE(run(tags_->load(both, 2, loaded)));
  EXPECT_EQ(loaded.digest, digest_of('b'));
  std::string path;
  ASSERT_TRUE(tag_entries_path(only_evicted, path));
  EXPECT_FALSE(std::filesystem::exists(root_ + "/" + path));
  EXPECT_TRUE(tmp_is_empty());
}

} // namespace
} // namespace regcache::registry

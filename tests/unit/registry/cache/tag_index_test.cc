// Tag entries in memory: a held tag answers without its file, answers exactly what
// entry_for_client would, stays within its bound, loses what the sweep drops, and is filled at
// start from the files (whose paths give back the keys they were written for).
#include "registry/cache/tag_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "registry/api/accept_kind.h"
#include "registry/cache/tag_store.h"
#include "registry/cache/tag_sweep.h"
#include "tests/unit/registry/cache/store_on_ring.h"

namespace regcache::registry {
namespace {

constexpr uint8_t kIndexOnlyMask = accept_bit(ManifestKind::OciIndex);
constexpr uint8_t kDockerV2OnlyMask = accept_bit(ManifestKind::DockerManifestV2);

Digest digest_of(char hex) {
  return *parse_sha256_digest("sha256:" + std::string(64, hex));
}

TagEntry entry_naming(char hex, std::string_view media_type, uint8_t mask) {
  TagEntry entry;
  entry.digest = digest_of(hex);
  entry.size_bytes = 321;
  entry.confirmed_unix_ms = 1700000000000;
  entry.media_type = intern_media_type(media_type);
  entry.accept_mask = mask;
  return entry;
}

const TagKey kKey{"127.0.0.1:5000", "team/app", "1.0"};

TEST(TagIndex, AHeldTagAnswersAsEntryForClientWould) {
  TagIndex index(100);
  const std::vector<TagEntry> entries = {
      entry_naming('a', kMediaTypeOciIndex, kIndexOnlyMask),
      entry_naming('b', kMediaTypeDockerManifestV2, kDockerV2OnlyMask)};
  TagEntry found;
  EXPECT_EQ(index.find(kKey, kIndexOnlyMask, found), TagIndex::Lookup::NotHeld);
  index.hold(kKey, entries);
  ASSERT_EQ(index.find(kKey, kIndexOnlyMask, found), TagIndex::Lookup::Answer);
  EXPECT_EQ(found.digest, digest_of('a'));
  EXPECT_EQ(found.media_type.view(), kMediaTypeOciIndex);
  ASSERT_EQ(index.find(kKey, kDockerV2OnlyMask, found), TagIndex::Lookup::Answer);
  EXPECT_EQ(found.digest, digest_of('b'));
  // An OCI manifest client: neither answer serves it, and the index says so without a file.
  EXPECT_EQ(index.find(kKey, accept_bit(ManifestKind::OciManifest), found),
            TagIndex::Lookup::NoAnswer);
}

TEST(TagIndex, KeysDifferingInAnyPartAreDifferentTags) {
  TagIndex index(100);
  index.hold(kKey, std::vector<TagEntry>{entry_naming('a', kMediaTypeOciIndex, kIndexOnlyMask)});
  TagEntry found;
  for (const TagKey &other :
       {TagKey{"127.0.0.1:5001", "team/app", "1.0"}, TagKey{"127.0.0.1:5000", "team/app2", "1.0"},
        TagKey{"127.0.0.1:5000", "team/app", "1.1"}, TagKey{"127.0.0.1:5000", "team", "app/1.0"}})
    EXPECT_EQ(index.find(other, kIndexOnlyMask, found), TagIndex::Lookup::NotHeld);
}

TEST(TagIndex, HoldsNoMoreTagsThanItsBoundAllows) {
  TagIndex index(64); // one per shard
  std::vector<std::string> tags;
  for (int i = 0; i < 1000; ++i)
    tags.push_back("t" + std::to_string(i));
  for (const std::string &tag : tags)
    index.hold(TagKey{"host", "name", tag},
               std::vector<TagEntry>{entry_naming('a', kMediaTypeOciIndex, kIndexOnlyMask)});
  EXPECT_LE(index.tags_held(), 64u);
  EXPECT_GT(index.tags_held(), 0u);
  // The last one held is there (the least recently used went).
  TagEntry found;
  EXPECT_EQ(index.find(TagKey{"host", "name", tags.back()}, kIndexOnlyMask, found),
            TagIndex::Lookup::Answer);
}

TEST(TagIndex, WhatAFileReadFoundDoesNotReplaceWhatASaveHeld) {
  TagIndex index(100);
  index.hold(kKey, std::vector<TagEntry>{entry_naming('b', kMediaTypeOciIndex, kIndexOnlyMask)});
  index.hold_if_absent(
      kKey, std::vector<TagEntry>{entry_naming('a', kMediaTypeOciIndex, kIndexOnlyMask)});
  TagEntry found;
  ASSERT_EQ(index.find(kKey, kIndexOnlyMask, found), TagIndex::Lookup::Answer);
  EXPECT_EQ(found.digest, digest_of('b'));
  const TagKey other{"host", "name", "tag"};
  index.hold_if_absent(
      other, std::vector<TagEntry>{entry_naming('a', kMediaTypeOciIndex, kIndexOnlyMask)});
  ASSERT_EQ(index.find(other, kIndexOnlyMask, found), TagIndex::Lookup::Answer);
  EXPECT_EQ(found.digest, digest_of('a'));
}

TEST(TagIndex, ZeroHoldsNothing) {
  TagIndex index(0);
  index.hold(kKey, std::vector<TagEntry>{entry_naming('a', kMediaTypeOciIndex, kIndexOnlyMask)});
  TagEntry found;
  EXPECT_EQ(index.find(kKey, kIndexOnlyMask, found), TagIndex::Lookup::NotHeld);
  EXPECT_EQ(index.tags_held(), 0u);
}

TEST(TagIndex, AKeyLongerThanTheBufferIsNotHeld) {
  TagIndex index(100);
  const std::string long_name(kTagKeyBytesMax, 'n');
  const TagKey key{"host", long_name, "t"};
  index.hold(key, std::vector<TagEntry>{entry_naming('a', kMediaTypeOciIndex, kIndexOnlyMask)});
  TagEntry found;
  EXPECT_EQ(index.find(key, kIndexOnlyMask, found), TagIndex::Lookup::NotHeld);
}

TEST(TagIndex, DroppingEvictedDigestsForgetsATagLeftWithNoEntry) {
  TagIndex index(100);
  index.hold(kKey, std::vector<TagEntry>{
                       entry_naming('a', kMediaTypeOciIndex, kIndexOnlyMask),
                       entry_naming('b', kMediaTypeDockerManifestV2, kDockerV2OnlyMask)});
  std::vector<Digest> evicted = {digest_of('a')};
  index.drop_entries_naming(evicted);
  TagEntry found;
  EXPECT_EQ(index.find(kKey, kIndexOnlyMask, found), TagIndex::Lookup::NoAnswer);
  EXPECT_EQ(index.find(kKey, kDockerV2OnlyMask, found), TagIndex::Lookup::Answer);
  evicted = {digest_of('b')};
  index.drop_entries_naming(evicted);
  EXPECT_EQ(index.find(kKey, kDockerV2OnlyMask, found), TagIndex::Lookup::NotHeld);
}

TEST(TagKeyOfPath, GivesBackTheKeyTheFileWasWrittenFor) {
  for (const TagKey &key :
       {TagKey{"127.0.0.1:5000", "team/app", "1.0"},
        TagKey{"registry-1.docker.io", "library/alpine", "3.19"},
        TagKey{"[::1]:5000", "a/b/c", "latest"}, TagKey{"ghcr.io", "org/img", "v1_2"}}) {
    std::string path;
    ASSERT_TRUE(tag_entries_path(key, path));
    std::string upstream;
    TagKey back;
    ASSERT_TRUE(tag_key_of_path(path, upstream, back)) << path;
    EXPECT_EQ(back.upstream, key.upstream) << path;
    EXPECT_EQ(back.name, key.name) << path;
    EXPECT_EQ(back.tag, key.tag) << path;
  }
  std::string upstream;
  TagKey back;
  EXPECT_FALSE(tag_key_of_path("tags/host/t@entries", upstream, back));
  EXPECT_FALSE(tag_key_of_path("blobs/host/name/t@entries", upstream, back));
}

class TagIndexOnStoreTest : public StoreOnRingTest {};

TEST_F(TagIndexOnStoreTest, AHeldTagIsAnsweredWithoutItsFile) {
  TagStore tags(store_, 100);
  ASSERT_TRUE(run(tags.save(kKey, entry_naming('a', kMediaTypeOciIndex, kIndexOnlyMask))));
  std::filesystem::remove_all(root_ + "/tags");
  TagEntry loaded;
  ASSERT_TRUE(run(tags.load(kKey, kIndexOnlyMask, loaded)));
  EXPECT_EQ(loaded.digest, digest_of('a'));
  // Without memory the file is the only answer, and it is gone.
  TagStore files_only(store_, 0);
  EXPECT_FALSE(run(files_only.load(kKey, kIndexOnlyMask, loaded)));
}

TEST_F(TagIndexOnStoreTest, PreloadHoldsTheTagsOfTheFilesFound) {
  {
    TagStore writer(store_, 0);
    ASSERT_TRUE(run(writer.save(kKey, entry_naming('a', kMediaTypeOciIndex, kIndexOnlyMask))));
    ASSERT_TRUE(run(writer.save(TagKey{"ghcr.io", "org/img", "v1"},
                                entry_naming('b', kMediaTypeOciIndex, kIndexOnlyMask))));
  }
  TagStore restarted(store_, 100);
  EXPECT_EQ(restarted.preload(), 2u);
  std::filesystem::remove_all(root_ + "/tags"); // from now on only memory can answer
  TagEntry loaded;
  ASSERT_TRUE(run(restarted.load(kKey, kIndexOnlyMask, loaded)));
  EXPECT_EQ(loaded.digest, digest_of('a'));
  ASSERT_TRUE(run(restarted.load(TagKey{"ghcr.io", "org/img", "v1"}, kIndexOnlyMask, loaded)));
  EXPECT_EQ(loaded.digest, digest_of('b'));
}

TEST_F(TagIndexOnStoreTest, PreloadStopsAtTheBound) {
  {
    TagStore writer(store_, 0);
    for (int i = 0; i < 10; ++i) {
      const std::string tag = "t" + std::to_string(i);
      ASSERT_TRUE(run(writer.save(TagKey{"host", "name", tag},
                                  entry_naming('a', kMediaTypeOciIndex, kIndexOnlyMask))));
    }
  }
  TagStore restarted(store_, 3);
  EXPECT_EQ(restarted.preload(), 3u);
  EXPECT_LE(restarted.index().tags_held(), 3u);
}

TEST_F(TagIndexOnStoreTest, TheSweepDropsFromMemoryWhatItDropsFromTheFiles) {
  TagStore tags(store_, 100);
  ASSERT_TRUE(run(tags.save(kKey, entry_naming('a', kMediaTypeOciIndex, kIndexOnlyMask))));
  const std::vector<Digest> evicted = {digest_of('a')};
  const TagSweepReport report = sweep_tag_entries(store_, evicted, &tags.index());
  EXPECT_EQ(report.files_removed, 1u);
  TagEntry loaded;
  EXPECT_FALSE(run(tags.load(kKey, kIndexOnlyMask, loaded)));
  EXPECT_EQ(tags.index().tags_held(), 0u);
}

} // namespace
} // namespace regcache::registry

// Tag entries: the file's text round-trips and refuses damage, the path keeps upstreams apart
// and refuses traversal, entry_for_client picks the upstream's answer for the client's Accept,
// and the store keeps one answer per Accept mask through the ring, bounded.
#include "registry/cache/tag_store.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "registry/api/accept_kind.h"
#include "tests/unit/registry/cache/store_on_ring.h"

namespace regcache::registry {
namespace {

constexpr uint8_t kContainerdMask = kAcceptMaskAll; // four types and */*
constexpr uint8_t kDockerdMask =
    accept_bit(ManifestKind::DockerManifestV2) | accept_bit(ManifestKind::DockerManifestList) |
    accept_bit(ManifestKind::OciManifest) | accept_bit(ManifestKind::OciIndex);
constexpr uint8_t kIndexOnlyMask = accept_bit(ManifestKind::OciIndex);
constexpr uint8_t kDockerV2OnlyMask = accept_bit(ManifestKind::DockerManifestV2);

TagEntry entry_of(char digest_hex, std::string_view media_type, uint8_t mask,
                  int64_t confirmed = 1700000000123) {
  TagEntry entry;
  entry.digest = *parse_sha256_digest("sha256:" + std::string(64, digest_hex));
  entry.size_bytes = 1234;
  entry.confirmed_unix_ms = confirmed;
  entry.media_type = intern_media_type(media_type);
  entry.accept_mask = mask;
  return entry;
}

TEST(TagEntriesText, RoundTripsEveryField) {
  std::vector<TagEntry> entries = {entry_of('a', kMediaTypeOciIndex, kContainerdMask),
                                   entry_of('b', "application/x; charset=utf-8", 0, 42)};
  std::vector<TagEntry> parsed;
  ASSERT_TRUE(parse_tag_entries(format_tag_entries(entries), parsed));
  ASSERT_EQ(parsed.size(), 2u);
  EXPECT_EQ(parsed[0].digest, entries[0].digest);
  EXPECT_EQ(parsed[0].size_bytes, 1234u);
  EXPECT_EQ(parsed[0].confirmed_unix_ms, 1700000000123);
  EXPECT_EQ(parsed[0].media_type.view(), kMediaTypeOciIndex);
  EXPECT_EQ(parsed[0].accept_mask, kContainerdMask);
  EXPECT_EQ(parsed[1].media_type.view(), "application/x; charset=utf-8");
  EXPECT_EQ(parsed[1].accept_mask, 0);
  EXPECT_EQ(parsed[1].confirmed_unix_ms, 42);
}

TEST(TagEntriesText, EveryCutOfTheTextIsRefused) {
  std::string text = format_tag_entries(std::vector<TagEntry>{
      entry_of('a', kMediaTypeOciIndex, kContainerdMask), entry_of('b', kMediaTypeOciIndex, 3)});
  std::vector<TagEntry> parsed;
  size_t header = std::string_view("regcache-tag-entries 1\n").size();
  for (size_t cut = 0; cut + 1 < text.size(); ++cut) {
    if (cut == header || (cut > 0 && text[cut - 1] == '\n'))
      continue; // a cut at a line end is a shorter valid file
    EXPECT_FALSE(parse_tag_entries(std::string_view(text).substr(0, cut), parsed))
        << "cut at " << cut;
  }
}

TEST(TagEntriesText, DamagedFieldsAndOtherFormatsAreRefused) {
  std::vector<TagEntry> parsed;
  const std::string digest = "sha256:" + std::string(64, 'a');
  for (const std::string &text : std::vector<std::string>{
           "regcache-tag-entries 1\n1 sha256:xyz 1 2 application/json\n",
           "regcache-tag-entries 1\n1 " + digest + " -1 2 application/json\n",
           "regcache-tag-entries 1\n128 " + digest + " 1 2 application/json\n",
           "regcache-tag-entries 1\n1 " + digest + " 1 2\n",
           "regcache-tag-entries 1\n1 " + digest + " 1 x application/json\n",
           digest + " 1 2\napplication/json\n", // the earlier one-entry layout
           "regcache-tag-entries 2\n",
       }) {
    EXPECT_FALSE(parse_tag_entries(text, parsed)) << text;
  }
  EXPECT_TRUE(parse_tag_entries("regcache-tag-entries 1\n", parsed));
  EXPECT_TRUE(parsed.empty());
}

TEST(TagEntriesText, MoreLinesThanEverWrittenAreRefused) {
  std::vector<TagEntry> entries(kTagEntriesMax + 1, entry_of('a', kMediaTypeOciIndex, 1));
  std::vector<TagEntry> parsed;
  EXPECT_FALSE(parse_tag_entries(format_tag_entries(entries), parsed));
  entries.pop_back();
  EXPECT_TRUE(parse_tag_entries(format_tag_entries(entries), parsed));
}

TEST(TagEntriesPath, KeepsUpstreamsAndRepositoriesApart) {
  std::string a, b, c;
  ASSERT_TRUE(tag_entries_path(TagKey{"127.0.0.1:5000", "library/nginx", "1.25"}, a));
  ASSERT_TRUE(tag_entries_path(TagKey{"ghcr.io", "library/nginx", "1.25"}, b));
  ASSERT_TRUE(tag_entries_path(TagKey{"127.0.0.1:5000", "library/nginx/1.25", "x"}, c));
  EXPECT_EQ(a, "tags/127.0.0.1_5000/library/nginx/1.25@entries");
  EXPECT_NE(a, b);
  EXPECT_FALSE(c.starts_with(a)); // a tag's file is never a repository's directory
}

TEST(TagEntriesPath, RefusesTraversal) {
  std::string path;
  EXPECT_FALSE(tag_entries_path(TagKey{"host", "a/../b", "t"}, path));
  EXPECT_FALSE(tag_entries_path(TagKey{"host", "a//b", "t"}, path));
  EXPECT_FALSE(tag_entries_path(TagKey{"..", "a", "t"}, path));
  EXPECT_FALSE(tag_entries_path(TagKey{"host", "a", ".."}, path));
  EXPECT_FALSE(tag_entries_path(TagKey{"host", "a", ""}, path));
}

TEST(EntryForClient, TheAnswerToTheSameAcceptComesFirst) {
  std::vector<TagEntry> entries = {entry_of('a', kMediaTypeOciIndex, kContainerdMask, 5),
                                   entry_of('b', kMediaTypeDockerManifestV2, kDockerV2OnlyMask, 1)};
  const TagEntry *chosen = entry_for_client(entries, kDockerV2OnlyMask);
  ASSERT_NE(chosen, nullptr);
  EXPECT_EQ(chosen->digest, entries[1].digest);
}

TEST(EntryForClient, AnIndexStoredForOneAcceptServesAClientThatNamesOnlyItsType) {
  // The case: a full Accept stored an OCI index; a client asking for exactly that type
  // must not miss.
  std::vector<TagEntry> entries = {entry_of('a', kMediaTypeOciIndex, kDockerdMask)};
  EXPECT_NE(entry_for_client(entries, kIndexOnlyMask), nullptr);
  EXPECT_NE(entry_for_client(entries, kContainerdMask), nullptr);   // an index is never converted
  EXPECT_EQ(entry_for_client(entries, kDockerV2OnlyMask), nullptr); // never a type not accepted
  EXPECT_EQ(entry_for_client(entries, 0), nullptr);
}

TEST(EntryForClient, APossiblyConvertedManifestServesOnlyClientsAcceptingLess) {
  // A Docker-v2-only client may have been given one platform's manifest out of a list; a client
  // that accepts lists would get the list, so it must ask.
  std::vector<TagEntry> entries = {entry_of('a', kMediaTypeDockerManifestV2, kDockerV2OnlyMask)};
  EXPECT_EQ(entry_for_client(entries, kDockerdMask), nullptr);
  EXPECT_EQ(entry_for_client(entries, kContainerdMask), nullptr);
  // Stored for an Accept that took every kind a conversion starts from: the tag's own manifest.
  entries = {entry_of('a', kMediaTypeDockerManifestV2, kDockerdMask)};
  EXPECT_NE(entry_for_client(entries, kContainerdMask), nullptr);
  EXPECT_NE(entry_for_client(entries, kDockerV2OnlyMask), nullptr);
}

TEST(EntryForClient, OfSeveralServableAnswersTheNewestWins) {
  std::vector<TagEntry> entries = {entry_of('a', kMediaTypeOciIndex, kContainerdMask, 5),
                                   entry_of('b', kMediaTypeOciIndex, kDockerdMask, 9)};
  const TagEntry *chosen = entry_for_client(entries, kIndexOnlyMask);
  ASSERT_NE(chosen, nullptr);
  EXPECT_EQ(chosen->digest, entries[1].digest);
}

// Every behaviour holds with the tags' entries in memory (tag_index.h) and without.
class TagStoreTest : public StoreOnRingTest, public ::testing::WithParamInterface<size_t> {
protected:
  TagStore tags_{store_, GetParam()};
  const TagKey key_{"127.0.0.1:5000", "team/app", "1.0"};
};
INSTANTIATE_TEST_SUITE_P(InMemoryAndFilesOnly, TagStoreTest, ::testing::Values(1024, 0));

TEST_P(TagStoreTest, SavedEntriesLoadBackPerAcceptMask) {
  ASSERT_TRUE(run(tags_.save(key_, entry_of('a', kMediaTypeOciIndex, kContainerdMask))));
  ASSERT_TRUE(run(tags_.save(key_, entry_of('b', kMediaTypeDockerManifestV2, kDockerV2OnlyMask))));
  TagEntry loaded;
  ASSERT_TRUE(run(tags_.load(key_, kContainerdMask, loaded)));
  EXPECT_EQ(loaded.digest, entry_of('a', "", 0).digest);
  ASSERT_TRUE(run(tags_.load(key_, kDockerV2OnlyMask, loaded)));
  EXPECT_EQ(loaded.digest, entry_of('b', "", 0).digest);
  ASSERT_TRUE(run(tags_.load(key_, kIndexOnlyMask, loaded)));
  EXPECT_EQ(loaded.digest, entry_of('a', "", 0).digest);
  // Saving a mask again replaces its answer only.
  ASSERT_TRUE(run(tags_.save(key_, entry_of('c', kMediaTypeOciIndex, kContainerdMask))));
  ASSERT_TRUE(run(tags_.load(key_, kContainerdMask, loaded)));
  EXPECT_EQ(loaded.digest, entry_of('c', "", 0).digest);
  ASSERT_TRUE(run(tags_.load(key_, kDockerV2OnlyMask, loaded)));
  EXPECT_EQ(loaded.digest, entry_of('b', "", 0).digest);
}

TEST_P(TagStoreTest, AMissingOrDamagedFileIsNoEntryAndASaveRepairsIt) {
  TagEntry loaded;
  EXPECT_FALSE(run(tags_.load(key_, kContainerdMask, loaded)));
  ASSERT_TRUE(run(tags_.save(key_, entry_of('a', kMediaTypeOciIndex, kContainerdMask))));
  std::string path;
  ASSERT_TRUE(tag_entries_path(key_, path));
  {
    std::ofstream damaged(root_ + "/" + path, std::ios::trunc);
    damaged << "regcache-tag-entries 1\n1 sha256:";
  }
  // A restart reads the file (memory followed it until now, and holds what was saved).
  TagStore restarted(store_, GetParam());
  EXPECT_EQ(restarted.preload(), 0u);
  EXPECT_FALSE(run(restarted.load(key_, kContainerdMask, loaded)));
  ASSERT_TRUE(run(restarted.save(key_, entry_of('b', kMediaTypeOciIndex, kContainerdMask))));
  ASSERT_TRUE(run(restarted.load(key_, kContainerdMask, loaded)));
  EXPECT_EQ(loaded.digest, entry_of('b', "", 0).digest);
  TagStore restarted_again(store_, GetParam());
  ASSERT_TRUE(run(restarted_again.load(key_, kContainerdMask, loaded)));
  EXPECT_EQ(loaded.digest, entry_of('b', "", 0).digest);
}

TEST_P(TagStoreTest, PastTheBoundTheAnswerConfirmedLongestAgoIsReplaced) {
  for (uint8_t mask = 1; mask <= kTagEntriesMax; ++mask)
    ASSERT_TRUE(run(tags_.save(key_, entry_of('a', kMediaTypeOciIndex, mask, 100 + mask))));
  ASSERT_TRUE(run(tags_.save(key_, entry_of('b', kMediaTypeOciIndex, 100, 500))));
  std::string path;
  ASSERT_TRUE(tag_entries_path(key_, path));
  std::vector<TagEntry> entries;
  ASSERT_TRUE(parse_tag_entries(file_text(path), entries));
  EXPECT_EQ(entries.size(), kTagEntriesMax);
  for (const TagEntry &entry : entries)
    EXPECT_NE(entry.accept_mask, 1) << "the oldest answer (mask 1) should be gone";
}

} // namespace
} // namespace regcache::registry

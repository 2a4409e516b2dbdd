#include "registry/cache/cache_purge.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "registry/api/accept_kind.h"
#include "registry/cache/blob_fetch.h"
#include "registry/cache/cache_catalog.h"
#include "registry/cache/manifest_store.h"
#include "registry/cache/sha256.h"
#include "registry/cache/tag_index.h"
#include "registry/cache/tag_store.h"
#include "tests/unit/registry/cache/store_on_ring.h"

namespace regcache::registry {
namespace {

// A store holding one image (manifest -> config + layer) tagged team/app:1, and a second tag
// team/app:2 naming another manifest with the same layer.
class CachePurgeTest : public StoreOnRingTest {
protected:
  void SetUp() override {
    StoreOnRingTest::SetUp();
    store_.manifests_in_memory().configure(1 << 20, 64 << 10);
    tags_ = std::make_unique<TagStore>(store_, 64);
    layer_ = put_blob("layer bytes");
    config_one_ = put_blob("config one");
    config_two_ = put_blob("config two");
    manifest_one_ = put_manifest(config_one_, "config one");
    manifest_two_ = put_manifest(config_two_, "config two");
    tag("1", manifest_one_);
    tag("2", manifest_two_);
  }

  Digest put_blob(const std::string &bytes) {
    const Digest digest = sha256_of(std::span<const char>(bytes.data(), bytes.size()));
    const std::string path = root_ + "/" + BlobStore::blob_path(digest).c_str();
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EXPECT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    ::close(fd);
    store_.note_published(digest, bytes.size());
    return digest;
  }
  Digest put_manifest(const Digest &config, const std::string &config_bytes) {
    const std::string bytes = R"({"schemaVersion":2,"config":{"digest":")" + to_string(config) +
                              R"(","size":)" + std::to_string(config_bytes.size()) +
                              R"(},"layers":[{"digest":")" + to_string(layer_) +
                              R"(","size":11}]})";
    const Digest digest = sha256_of(std::span<const char>(bytes.data(), bytes.size()));
    EXPECT_TRUE(run(
        store_manifest(store_, digest, kMediaTypeOciManifest, bytes, ProvenanceMark::Untracked)));
    return digest;
  }
  void tag(const std::string &name, const Digest &digest) {
    TagEntry entry;
    entry.digest = digest;
    entry.size_bytes = 10;
    entry.confirmed_unix_ms = 1000;
    entry.media_type = intern_media_type(kMediaTypeOciManifest);
    entry.accept_mask = 1;
    ASSERT_TRUE(run(tags_->save(TagKey{"reg:5000", "team/app", name}, entry)));
  }
  bool stored(const Digest &digest) {
    IndexEntryView entry;
    return store_.index().lookup(digest, entry) &&
           std::filesystem::exists(root_ + "/" + BlobStore::blob_path(digest).c_str());
  }
  PurgeReport purge(const PurgeSelection &selection) {
    const CacheGraph graph = read_cache_graph(store_);
    return execute_purge(store_, tags_->index(), fetches_, graph, plan_purge(graph, selection));
  }
  PurgeSelection image(const std::string &tag_name) {
    PurgeSelection selection;
    selection.upstream = "reg:5000";
    selection.name = "team/app";
    selection.tag = tag_name;
    return selection;
  }

  std::unique_ptr<TagStore> tags_;
  FetchTable fetches_;
  Digest layer_{}, config_one_{}, config_two_{}, manifest_one_{}, manifest_two_{};
};

TEST_F(CachePurgeTest, TheCatalogReadsTagsManifestsAndTheirBlobs) {
  const CacheGraph graph = read_cache_graph(store_);
  ASSERT_EQ(graph.roots.size(), 2u);
  EXPECT_EQ(graph.stored.size(), 5u);
  const ImageUsage usage = image_usage(graph, manifest_one_);
  EXPECT_EQ(usage.stored_count, 3u);
  EXPECT_EQ(usage.missing_count, 0u);
}

TEST_F(CachePurgeTest, PurgingAnImageRemovesItsTagFileManifestAndConfigButNotASharedLayer) {
  ASSERT_NE(store_.manifests_in_memory().find(manifest_one_), nullptr); // store_manifest held it
  const PurgeReport report = purge(image("1"));
  EXPECT_EQ(report.tags_removed, 1u);
  EXPECT_EQ(report.digests_removed, 2u);
  EXPECT_FALSE(stored(manifest_one_));
  EXPECT_FALSE(stored(config_one_));
  EXPECT_TRUE(stored(layer_));
  EXPECT_TRUE(stored(manifest_two_));
  EXPECT_EQ(store_.manifests_in_memory().find(manifest_one_), nullptr);
  std::string path;
  ASSERT_TRUE(tag_entries_path(TagKey{"reg:5000", "team/app", "1"}, path));
  EXPECT_FALSE(std::filesystem::exists(root_ + "/" + path));
  TagEntry loaded;
  EXPECT_FALSE(run(tags_->load(TagKey{"reg:5000", "team/app", "1"}, 1, loaded)));
  EXPECT_TRUE(run(tags_->load(TagKey{"reg:5000", "team/app", "2"}, 1, loaded)));
  EXPECT_TRUE(tmp_is_empty());
}

TEST_F(CachePurgeTest, PurgingTheLastImageNamingALayerRemovesIt) {
  purge(image("1"));
  const PurgeReport report = purge(image("2"));
  EXPECT_EQ(report.digests_removed, 3u);
  EXPECT_FALSE(stored(layer_));
  EXPECT_EQ(store_.index().count(), 0u);
}

TEST_F(CachePurgeTest, PurgingAManifestByDigestDropsTheTagEntriesNamingIt) {
  PurgeSelection selection;
  selection.kind = PurgeSelection::Kind::Digest;
  selection.digest = manifest_two_;
  const PurgeReport report = purge(selection);
  EXPECT_EQ(report.digests_removed, 1u);
  EXPECT_EQ(report.tag_entries_dropped, 1u);
  TagEntry loaded;
  EXPECT_FALSE(run(tags_->load(TagKey{"reg:5000", "team/app", "2"}, 1, loaded)));
  EXPECT_TRUE(stored(config_two_)); // by digest: exactly that one
}

TEST_F(CachePurgeTest, AReaderThatOpenedAPurgedFileReadsItToTheEnd) {
  const std::string path = root_ + "/" + BlobStore::blob_path(layer_).c_str();
  const int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  purge(image("1"));
  purge(image("2"));
  EXPECT_FALSE(stored(layer_));
  char bytes[32] = {};
  EXPECT_EQ(::pread(fd, bytes, sizeof(bytes), 0), 11);
  EXPECT_EQ(std::string(bytes, 11), "layer bytes");
  ::close(fd);
}

TEST_F(CachePurgeTest, AnEntryTheEvictorIsRemovingIsLeftToIt) {
  IndexEntryView entry;
  ASSERT_TRUE(store_.index().lookup(config_one_, entry));
  ASSERT_TRUE(store_.index().begin_eviction(entry));
  const PurgeReport report = purge(image("1"));
  EXPECT_EQ(report.digests_removed, 1u); // the manifest; the config is the evictor's to remove
  EXPECT_TRUE(std::filesystem::exists(root_ + "/" + BlobStore::blob_path(config_one_).c_str()));
  ASSERT_TRUE(store_.index().lookup(config_one_, entry));
  EXPECT_EQ(entry.state, BlobState::Evicting);
}

} // namespace
} // namespace regcache::registry

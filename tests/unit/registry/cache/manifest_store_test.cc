// Manifests in the store through the ring: the bytes land at blob_path(digest) and the media
// type at meta_path(digest), the type loads back, storing the same manifest again writes
// nothing, and a new media type for a stored digest replaces the old one.
#include "registry/cache/manifest_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "core/ring.h"
#include "core/task.h"
#include "registry/cache/blob_store.h"
#include "registry/cache/sha256.h"
#include "tests/unit/registry/cache/store_on_ring.h"

namespace regcache::registry {
namespace {

constexpr std::string_view kManifestBytes =
    R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
    R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":2,)"
    R"("digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},)"
    R"("layers":[]})";
constexpr std::string_view kOciManifestType = "application/vnd.oci.image.manifest.v1+json";
constexpr std::string_view kDockerManifestType =
    "application/vnd.docker.distribution.manifest.v2+json";

class ManifestStoreTest : public StoreOnRingTest {
protected:
  bool store(std::string_view media_type) {
    return run(
        store_manifest(store_, digest_, media_type, kManifestBytes, ProvenanceMark::Untracked));
  }
  std::string path_of(const StorePath &path) const { return root_ + "/" + path.c_str(); }
  std::string file_text(const StorePath &path) const {
    std::ifstream in(path_of(path), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ino_t inode_of(const StorePath &path) const {
    struct stat info {};
    EXPECT_EQ(::stat(path_of(path).c_str(), &info), 0) << path.c_str();
    return info.st_ino;
  }

  const Digest digest_ = sha256_of(std::span<const char>(kManifestBytes));
};

TEST_F(ManifestStoreTest, StoredBytesLandAtTheBlobPathOfTheDigest) {
  ASSERT_TRUE(store(kOciManifestType));
  EXPECT_EQ(file_text(BlobStore::blob_path(digest_)), kManifestBytes);
}

TEST_F(ManifestStoreTest, MediaTypeLandsAtTheMetaPathOfTheDigest) {
  ASSERT_TRUE(store(kOciManifestType));
  EXPECT_EQ(file_text(BlobStore::meta_path(digest_)), kOciManifestType);
}

TEST_F(ManifestStoreTest, StoredMediaTypeIsLoadedBack) {
  ASSERT_TRUE(store(kOciManifestType));
  std::string media_type;
  EXPECT_TRUE(run(load_manifest_media_type(store_, digest_, media_type)));
  EXPECT_EQ(media_type, kOciManifestType);
}

TEST_F(ManifestStoreTest, MediaTypeOfAnUnstoredDigestIsNotFound) {
  std::string media_type;
  EXPECT_FALSE(run(load_manifest_media_type(store_, digest_, media_type)));
}

TEST_F(ManifestStoreTest, StoringTheSameManifestAgainLeavesItsFilesUntouched) {
  ASSERT_TRUE(store(kOciManifestType));
  ino_t blob_inode = inode_of(BlobStore::blob_path(digest_));
  ino_t meta_inode = inode_of(BlobStore::meta_path(digest_));
  ASSERT_TRUE(store(kOciManifestType));
  // A write would have renamed a new file (a new inode) over each of them.
  EXPECT_EQ(inode_of(BlobStore::blob_path(digest_)), blob_inode);
  EXPECT_EQ(inode_of(BlobStore::meta_path(digest_)), meta_inode);
}

TEST_F(ManifestStoreTest, DifferentMediaTypeForTheSameDigestIsRewritten) {
  ASSERT_TRUE(store(kDockerManifestType));
  ASSERT_TRUE(store(kOciManifestType));
  std::string media_type;
  EXPECT_TRUE(run(load_manifest_media_type(store_, digest_, media_type)));
  EXPECT_EQ(media_type, kOciManifestType);
  EXPECT_EQ(file_text(BlobStore::blob_path(digest_)), kManifestBytes);
}

TEST_F(ManifestStoreTest, StoringAgainRestoresAMissingBlobFile) {
  ASSERT_TRUE(store(kOciManifestType));
  ASSERT_EQ(::unlink(path_of(BlobStore::blob_path(digest_)).c_str()), 0);
  ASSERT_TRUE(store(kOciManifestType));
  EXPECT_EQ(file_text(BlobStore::blob_path(digest_)), kManifestBytes);
}

TEST_F(ManifestStoreTest, StoringLeavesNothingInTmp) {
  ASSERT_TRUE(store(kOciManifestType));
  ASSERT_TRUE(store(kDockerManifestType));
  EXPECT_TRUE(std::filesystem::is_empty(root_ + "/tmp"));
}

TEST_F(ManifestStoreTest, AMediaTypeTooLongForTheMetaFileIsNotStored) {
  EXPECT_FALSE(store(std::string(300, 'a')));
  std::string loaded;
  EXPECT_FALSE(run(load_manifest_media_type(store_, digest_, loaded)));
}

// --- the manifests in memory (manifest_memory.h) ---

TEST_F(ManifestStoreTest, AStoredManifestIsHeldInMemoryForHits) {
  store_.manifests_in_memory().configure(1 << 20, 64 << 10);
  ASSERT_TRUE(store(kOciManifestType));
  HeldManifestRef held = run(find_held_manifest(store_, digest_));
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(held->bytes, kManifestBytes);
  EXPECT_EQ(held->media_type.view(), kOciManifestType);
}

TEST_F(ManifestStoreTest, AHeldManifestWhoseFileIsBeingEvictedIsAMissAndLetGo) {
  store_.manifests_in_memory().configure(1 << 20, 64 << 10);
  ASSERT_TRUE(store(kOciManifestType));
  IndexEntryView entry;
  ASSERT_TRUE(store_.index().lookup(digest_, entry));
  ASSERT_TRUE(store_.index().begin_eviction(entry));
  EXPECT_EQ(run(find_held_manifest(store_, digest_)), nullptr);
  EXPECT_EQ(store_.manifests_in_memory().find(digest_), nullptr);
}

TEST_F(ManifestStoreTest, AHeldManifestTheIndexNoLongerHoldsIsAMiss) {
  store_.manifests_in_memory().configure(1 << 20, 64 << 10);
  ASSERT_TRUE(store(kOciManifestType));
  IndexEntryView entry;
  ASSERT_TRUE(store_.index().lookup(digest_, entry));
  ASSERT_TRUE(store_.index().begin_eviction(entry));
  store_.index().finish_removal(digest_, entry.generation);
  EXPECT_EQ(run(find_held_manifest(store_, digest_)), nullptr);
}

TEST_F(ManifestStoreTest, TheFirstHitOfAStoredManifestReadsItIntoMemory) {
  ASSERT_TRUE(store(kOciManifestType)); // memory off: nothing held
  store_.manifests_in_memory().configure(1 << 20, 64 << 10);
  EXPECT_EQ(run(find_held_manifest(store_, digest_)), nullptr);
  bool rotten = true;
  HeldManifestRef held = run(hold_stored_manifest(store_, digest_, &rotten));
  EXPECT_FALSE(rotten);
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(held->bytes, kManifestBytes);
  EXPECT_EQ(held->media_type.view(), kOciManifestType);
  EXPECT_NE(run(find_held_manifest(store_, digest_)), nullptr);
}

TEST_F(ManifestStoreTest, AStoredManifestWhoseBytesDoNotHashToItsNameIsNeverHeld) {
  ASSERT_TRUE(store(kOciManifestType));
  {
    // The same size, one byte flipped: only the hash can tell.
    std::string damaged(kManifestBytes);
    damaged[10] ^= 1;
    std::ofstream out(path_of(BlobStore::blob_path(digest_)), std::ios::binary | std::ios::trunc);
    out << damaged;
  }
  store_.manifests_in_memory().configure(1 << 20, 64 << 10);
  bool rotten = false;
  EXPECT_EQ(run(hold_stored_manifest(store_, digest_, &rotten)), nullptr);
  EXPECT_TRUE(rotten);
  EXPECT_EQ(store_.manifests_in_memory().find(digest_), nullptr);
  EXPECT_FALSE(std::filesystem::exists(path_of(BlobStore::blob_path(digest_))));
  IndexEntryView entry;
  ASSERT_TRUE(store_.index().lookup(digest_, entry));
  EXPECT_EQ(entry.state, BlobState::Rotten);
}

TEST_F(ManifestStoreTest, AManifestLargerThanTheEntryBoundIsNotReadIntoMemory) {
  ASSERT_TRUE(store(kOciManifestType));
  store_.manifests_in_memory().configure(1 << 20, kManifestBytes.size() - 1);
  bool rotten = true;
  EXPECT_EQ(run(hold_stored_manifest(store_, digest_, &rotten)), nullptr);
  EXPECT_FALSE(rotten);
}

} // namespace
} // namespace regcache::registry

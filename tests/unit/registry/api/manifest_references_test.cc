#include "registry/api/manifest_references.h"

#include <gtest/gtest.h>

#include <string>

namespace regcache::registry {
namespace {

std::string digest_text(char hex) {
  return "sha256:" + std::string(64, hex);
}

TEST(ManifestReferencesTest, ReadsTheManifestsOfAnIndexWithTheirPlatforms) {
  const std::string index =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
    "manifests":[
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
      digest_text('a') + R"(","size":500,
       "platform":{"os":"linux","architecture":"amd64"}},
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
      digest_text('b') + R"(","size":501,
       "platform":{"os":"linux","architecture":"arm64","variant":"v8"}}]})";
  std::vector<ManifestReference> references;
  ASSERT_TRUE(parse_manifest_references(index, references));
  ASSERT_EQ(references.size(), 2u);
  EXPECT_EQ(references[0].kind, ManifestReference::Kind::Manifest);
  EXPECT_EQ(to_string(references[0].digest), digest_text('a'));
  EXPECT_EQ(references[0].size_bytes, 500u);
  EXPECT_EQ(references[0].platform, "linux/amd64");
  EXPECT_EQ(references[1].platform, "linux/arm64/v8");
}

TEST(ManifestReferencesTest, ReadsTheConfigAndLayersOfAnImageManifest) {
  const std::string manifest = R"({"schemaVersion":2,"config":{"digest":")" + digest_text('c') +
                               R"(","size":1234},"layers":[{"digest":")" + digest_text('d') +
                               R"(","size":99},{"digest":")" + digest_text('e') +
                               R"(","size":100}]})";
  std::vector<ManifestReference> references;
  ASSERT_TRUE(parse_manifest_references(manifest, references));
  ASSERT_EQ(references.size(), 3u);
  EXPECT_EQ(references[0].kind, ManifestReference::Kind::Config);
  EXPECT_EQ(references[0].size_bytes, 1234u);
  EXPECT_EQ(references[1].kind, ManifestReference::Kind::Layer);
  EXPECT_EQ(to_string(references[2].digest), digest_text('e'));
}

TEST(ManifestReferencesTest, RejectsADescriptorWithoutASha256Digest) {
  std::vector<ManifestReference> references;
  EXPECT_FALSE(
      parse_manifest_references(R"({"layers":[{"digest":"sha512:abcd","size":1}]})", references));
  EXPECT_TRUE(references.empty());
}

TEST(ManifestReferencesTest, LeavesTheOutputAsItWasOnAFailure) {
  std::vector<ManifestReference> references(1);
  const std::string manifest =
      R"({"config":{"digest":")" + digest_text('c') + R"(","size":1},"layers":"not an array"})";
  EXPECT_FALSE(parse_manifest_references(manifest, references));
  EXPECT_EQ(references.size(), 1u);
}

TEST(ManifestReferencesTest, RejectsTextThatIsNotAJsonObject) {
  std::vector<ManifestReference> references;
  EXPECT_FALSE(parse_manifest_references("[1,2]", references));
  EXPECT_FALSE(parse_manifest_references("{", references));
}

} // namespace
} // namespace regcache::registry

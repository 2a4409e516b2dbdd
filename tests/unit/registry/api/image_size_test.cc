#include "registry/api/image_size.h"

#include <gtest/gtest.h>

namespace regcache::registry {
namespace {

TEST(ImageSize, SumsConfigAndLayersOfAnImageManifest) {
  const char *manifest = R"({"schemaVersion":2,
    "mediaType":"application/vnd.oci.image.manifest.v1+json",
    "config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":1472,"digest":"sha256:a"},
    "layers":[{"mediaType":"x","size":3623807,"digest":"sha256:b"},
              {"mediaType":"x","size":100,"digest":"sha256:c"}]})";
  EXPECT_EQ(image_bytes_of_manifest(manifest), 1472u + 3623807u + 100u);
}

TEST(ImageSize, AnIndexHasNoSizeOfItsOwn) {
  const char *index = R"({"schemaVersion":2,"manifests":[{"size":500,"digest":"sha256:a"}]})";
  EXPECT_EQ(image_bytes_of_manifest(index), std::nullopt);
}

TEST(ImageSize, MalformedJsonOrALayerWithoutSizeHasNone) {
  EXPECT_EQ(image_bytes_of_manifest("{not json"), std::nullopt);
  EXPECT_EQ(image_bytes_of_manifest(R"({"layers":[{"digest":"sha256:b"}]})"), std::nullopt);
  EXPECT_EQ(image_bytes_of_manifest(R"({"layers":[{"size":-1}]})"), std::nullopt);
}

} // namespace
} // namespace regcache::registry

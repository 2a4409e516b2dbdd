#include "registry/api/accept_kind.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace regcache::registry {
namespace {

constexpr uint8_t kDockerV2 = accept_bit(ManifestKind::DockerManifestV2);
constexpr uint8_t kDockerList = accept_bit(ManifestKind::DockerManifestList);
constexpr uint8_t kOciManifest = accept_bit(ManifestKind::OciManifest);
constexpr uint8_t kOciIndex = accept_bit(ManifestKind::OciIndex);
constexpr uint8_t kV1Signed = accept_bit(ManifestKind::DockerManifestV1Signed);
constexpr uint8_t kV1 = accept_bit(ManifestKind::DockerManifestV1);

TEST(ManifestKindTest, EachMediaTypeConstantHasItsKind) {
  EXPECT_EQ(manifest_kind(kMediaTypeDockerManifestV2), ManifestKind::DockerManifestV2);
  EXPECT_EQ(manifest_kind(kMediaTypeDockerManifestList), ManifestKind::DockerManifestList);
  EXPECT_EQ(manifest_kind(kMediaTypeOciManifest), ManifestKind::OciManifest);
  EXPECT_EQ(manifest_kind(kMediaTypeOciIndex), ManifestKind::OciIndex);
  EXPECT_EQ(manifest_kind(kMediaTypeDockerManifestV1Signed), ManifestKind::DockerManifestV1Signed);
  EXPECT_EQ(manifest_kind(kMediaTypeDockerManifestV1), ManifestKind::DockerManifestV1);
}

TEST(ManifestKindTest, IgnoresParametersAndCase) {
  EXPECT_EQ(manifest_kind("Application/VND.OCI.image.index.v1+json; charset=utf-8"),
            ManifestKind::OciIndex);
}

TEST(ManifestKindTest, UnknownMediaTypeHasNoKind) {
  EXPECT_FALSE(manifest_kind("application/json"));
  EXPECT_FALSE(manifest_kind(""));
  EXPECT_FALSE(manifest_kind("application/vnd.oci.image.index.v1+json2"));
}

TEST(AcceptMaskTest, SingleMediaTypeSetsItsBit) {
  EXPECT_EQ(accept_mask(kMediaTypeDockerManifestV2), kDockerV2);
  EXPECT_EQ(accept_mask(kMediaTypeDockerManifestV1Signed), kV1Signed);
  EXPECT_EQ(accept_mask(kMediaTypeDockerManifestV1), kV1);
}

TEST(AcceptMaskTest, CommaSeparatedMediaTypesSetEachBit) {
  EXPECT_EQ(accept_mask("application/vnd.oci.image.manifest.v1+json,"
                        "application/vnd.oci.image.index.v1+json"),
            kOciManifest | kOciIndex);
}

TEST(AcceptMaskTest, ContainerdStyleListWithWildcardSetsAllItsBits) {
  EXPECT_EQ(accept_mask("application/vnd.docker.distribution.manifest.v2+json, "
                        "application/vnd.docker.distribution.manifest.list.v2+json, "
                        "application/vnd.oci.image.manifest.v1+json, "
                        "application/vnd.oci.image.index.v1+json, */*"),
            kDockerV2 | kDockerList | kOciManifest | kOciIndex | kAcceptAnyBit);
}

TEST(AcceptMaskTest, IgnoresParametersOtherThanQ) {
  EXPECT_EQ(accept_mask("application/vnd.oci.image.index.v1+json; charset=utf-8; level=1"),
            kOciIndex);
}

TEST(AcceptMaskTest, ZeroWeightMeansNotAccepted) {
  for (std::string_view weight : {"q=0", "q=0.", "q=0.0", "q=0.000", "Q=0", " q = 0 "}) {
    const std::string value = std::string(kMediaTypeOciIndex) + ";" + std::string(weight);
    EXPECT_EQ(accept_mask(value), 0) << value;
  }
}

TEST(AcceptMaskTest, NonZeroWeightIsAccepted) {
  for (std::string_view weight : {"q=0.5", "q=1", "q=1.000", "q=0.001"}) {
    const std::string value = std::string(kMediaTypeOciIndex) + ";" + std::string(weight);
    EXPECT_EQ(accept_mask(value), kOciIndex) << value;
  }
}

TEST(AcceptMaskTest, MalformedWeightIsIgnored) {
  for (std::string_view weight : {"q=abc", "q=", "q=0.0000", "q=00"}) {
    const std::string value = std::string(kMediaTypeOciIndex) + ";" + std::string(weight);
    EXPECT_EQ(accept_mask(value), kOciIndex) << value;
  }
}

TEST(AcceptMaskTest, ZeroWeightExcludesOnlyItsOwnElement) {
  EXPECT_EQ(
      accept_mask(std::string(kMediaTypeOciIndex) + ";q=0, " + std::string(kMediaTypeOciManifest)),
      kOciManifest);
}

TEST(AcceptMaskTest, AnyWildcardSetsAnyBit) {
  EXPECT_EQ(accept_mask("*/*"), kAcceptAnyBit);
}

TEST(AcceptMaskTest, ApplicationWildcardSetsAnyBit) {
  EXPECT_EQ(accept_mask("application/*"), kAcceptAnyBit);
  EXPECT_EQ(accept_mask("Application/*"), kAcceptAnyBit);
}

TEST(AcceptMaskTest, WildcardWithZeroWeightSetsNothing) {
  EXPECT_EQ(accept_mask("*/*;q=0"), 0);
}

TEST(AcceptMaskTest, OtherWildcardsSetNothing) {
  EXPECT_EQ(accept_mask("text/*"), 0);
  EXPECT_EQ(accept_mask("*/json"), 0);
}

TEST(AcceptMaskTest, MediaTypesAreCaseInsensitive) {
  EXPECT_EQ(accept_mask("APPLICATION/VND.DOCKER.DISTRIBUTION.MANIFEST.V2+JSON"), kDockerV2);
}

TEST(AcceptMaskTest, UnknownMediaTypesSetNothing) {
  EXPECT_EQ(accept_mask("application/json, text/html"), 0);
}

TEST(AcceptMaskTest, EmptyValueSetsNothing) {
  EXPECT_EQ(accept_mask(""), 0);
  EXPECT_EQ(accept_mask(" , ,"), 0);
}

TEST(AcceptMaskTest, SkipsWhitespaceAndEmptyElements) {
  EXPECT_EQ(accept_mask(",, \tapplication/vnd.oci.image.index.v1+json\t ,"), kOciIndex);
}

TEST(AcceptMaskTest, QuotedParameterMayHoldCommasAndSemicolons) {
  EXPECT_EQ(accept_mask(std::string(kMediaTypeOciManifest) + R"(; x="a,b;q=0\"", )" +
                        std::string(kMediaTypeOciIndex)),
            kOciManifest | kOciIndex);
}

TEST(AcceptMaskTest, MasksOfSeveralHeadersCombineWithOr) {
  const uint8_t mask = accept_mask(kMediaTypeDockerManifestV2) | accept_mask(kMediaTypeOciIndex);
  EXPECT_TRUE(mask_accepts(mask, kMediaTypeDockerManifestV2));
  EXPECT_TRUE(mask_accepts(mask, kMediaTypeOciIndex));
  EXPECT_FALSE(mask_accepts(mask, kMediaTypeOciManifest));
}

TEST(MaskAcceptsTest, AcceptsTypeWhoseBitIsSet) {
  EXPECT_TRUE(mask_accepts(kDockerList, kMediaTypeDockerManifestList));
}

TEST(MaskAcceptsTest, RefusesTypeWhoseBitIsClear) {
  EXPECT_FALSE(mask_accepts(kDockerList, kMediaTypeDockerManifestV2));
}

TEST(MaskAcceptsTest, IgnoresParametersOfTheMediaType) {
  EXPECT_TRUE(mask_accepts(kV1Signed, "application/vnd.docker.distribution.manifest.v1+prettyjws; "
                                      "charset=utf-8"));
}

TEST(MaskAcceptsTest, WildcardAcceptsEveryType) {
  EXPECT_TRUE(mask_accepts(kAcceptAnyBit, kMediaTypeOciIndex));
  EXPECT_TRUE(mask_accepts(kAcceptAnyBit, "application/json"));
}

TEST(MaskAcceptsTest, EmptyMaskAcceptsNothing) {
  EXPECT_FALSE(mask_accepts(0, kMediaTypeDockerManifestV2));
}

TEST(MaskAcceptsTest, UnknownTypeIsRefusedWithoutWildcard) {
  EXPECT_FALSE(mask_accepts(kAcceptMaskAll & ~kAcceptAnyBit, "application/json"));
}

TEST(MaskKeyTest, EmptyMaskHasKeyNone) {
  EXPECT_EQ(mask_key(0), "none");
}

TEST(MaskKeyTest, KeyListsOneLetterPerBitInBitOrder) {
  EXPECT_EQ(mask_key(kDockerV2 | kOciIndex), "di");
  EXPECT_EQ(mask_key(kAcceptMaskAll), "dloipja");
  EXPECT_EQ(mask_key(kAcceptAnyBit), "a");
}

TEST(MaskKeyTest, EveryMaskHasADistinctFileNameSafeKey) {
  std::set<std::string_view> keys;
  for (unsigned mask = 0; mask <= kAcceptMaskAll; ++mask) {
    const std::string_view key = mask_key(static_cast<uint8_t>(mask));
    EXPECT_FALSE(key.empty());
    EXPECT_LE(key.size(), 8u);
    for (char c : key)
      EXPECT_TRUE(c >= 'a' && c <= 'z') << key;
    keys.insert(key);
  }
  EXPECT_EQ(keys.size(), kAcceptMaskAll + 1u);
}

} // namespace
} // namespace regcache::registry

namespace regcache::registry {
namespace {

TEST(StoredAnswerServes, AnEqualMaskIsAlwaysTheUpstreamsOwnAnswer) {
  EXPECT_TRUE(stored_answer_serves(0, "application/json", 0));
  EXPECT_TRUE(stored_answer_serves(accept_bit(ManifestKind::DockerManifestV2),
                                   kMediaTypeDockerManifestV1Signed,
                                   accept_bit(ManifestKind::DockerManifestV2)));
}

TEST(StoredAnswerServes, NeverATypeTheClientDoesNotAccept) {
  EXPECT_FALSE(stored_answer_serves(kAcceptMaskAll, kMediaTypeOciIndex,
                                    accept_bit(ManifestKind::DockerManifestList)));
  EXPECT_FALSE(stored_answer_serves(kAcceptMaskAll, "application/vnd.example+json",
                                    accept_bit(ManifestKind::OciIndex)));
}

TEST(StoredAnswerServes, ASubsetOfTheStoredAcceptGetsTheSameAnswer) {
  const uint8_t stored =
      accept_bit(ManifestKind::DockerManifestV2) | accept_bit(ManifestKind::OciManifest);
  EXPECT_TRUE(stored_answer_serves(stored, kMediaTypeDockerManifestV2,
                                   accept_bit(ManifestKind::DockerManifestV2)));
  // More choices than the stored Accept had: the upstream might answer with a list.
  EXPECT_FALSE(stored_answer_serves(stored, kMediaTypeDockerManifestV2, kAcceptMaskAll));
}

TEST(StoredAnswerServes, ListsIndexesAndAnswersToWildcardsAreTheTagsOwn) {
  EXPECT_TRUE(stored_answer_serves(accept_bit(ManifestKind::DockerManifestList),
                                   kMediaTypeDockerManifestList, kAcceptMaskAll));
  // A wildcard names no type: the answer to it may be a conversion.
  EXPECT_FALSE(stored_answer_serves(kAcceptAnyBit, kMediaTypeDockerManifestV2,
                                    accept_bit(ManifestKind::DockerManifestV2) |
                                        accept_bit(ManifestKind::DockerManifestList)));
}

TEST(StoredAnswerServes, AClientAcceptingTheTypeOnlyThroughAWildcardAsksTheUpstream) {
  // distribution answers `*/*` alone for an OCI index tag with a 404, for a list with schema1.
  EXPECT_FALSE(stored_answer_serves(kAcceptMaskAll, kMediaTypeOciIndex, kAcceptAnyBit));
  EXPECT_FALSE(stored_answer_serves(kAcceptMaskAll, kMediaTypeDockerManifestList, kAcceptAnyBit));
  EXPECT_FALSE(stored_answer_serves(accept_bit(ManifestKind::DockerManifestList) | kAcceptAnyBit,
                                    kMediaTypeDockerManifestList, kAcceptAnyBit));
}

} // namespace
} // namespace regcache::registry

#include "registry/api/route.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>

namespace regcache::registry {

// Readable failure messages (found by ADL).
void PrintTo(const Route &route, std::ostream *out) {
  *out << "Route{kind=" << static_cast<int>(route.kind) << ", name='" << route.name
       << "', reference='" << route.reference << "', digest=" << route.reference_is_digest << "}";
}

namespace {

const std::string kDigest = "sha256:" + std::string(64, 'a');

Route expect_route(std::string_view path) {
  const RouteResult result = parse_route(path);
  const Route *route = std::get_if<Route>(&result);
  EXPECT_NE(route, nullptr) << "path: " << path;
  return route != nullptr ? *route : Route{};
}

RouteError expect_error(std::string_view path) {
  const RouteResult result = parse_route(path);
  const RouteError *error = std::get_if<RouteError>(&result);
  EXPECT_NE(error, nullptr) << "path: " << path;
  return error != nullptr ? *error : RouteError{};
}

void expect_error_code(std::string_view path, uint16_t status, OciErrorCode code) {
  const RouteError error = expect_error(path);
  EXPECT_EQ(error.status, status) << "path: " << path;
  EXPECT_EQ(error.code, code) << "path: " << path;
  EXPECT_FALSE(error.message.empty());
}

TEST(ParseRouteTest, VersionCheckWithTrailingSlashIsPing) {
  EXPECT_EQ(expect_route("/v2/"), (Route{Route::Kind::Ping, {}, {}, false}));
}

TEST(ParseRouteTest, VersionCheckWithoutTrailingSlashIsPing) {
  EXPECT_EQ(expect_route("/v2"), (Route{Route::Kind::Ping, {}, {}, false}));
}

TEST(ParseRouteTest, ManifestByTag) {
  EXPECT_EQ(expect_route("/v2/library/alpine/manifests/latest"),
            (Route{Route::Kind::Manifest, "library/alpine", "latest", false}));
}

TEST(ParseRouteTest, ManifestByDigest) {
  EXPECT_EQ(expect_route("/v2/library/alpine/manifests/" + kDigest),
            (Route{Route::Kind::Manifest, "library/alpine", kDigest, true}));
}

TEST(ParseRouteTest, NestedNameKeepsAllItsComponents) {
  EXPECT_EQ(expect_route("/v2/a/b/c/manifests/x"),
            (Route{Route::Kind::Manifest, "a/b/c", "x", false}));
}

TEST(ParseRouteTest, RepositoryNamedManifestsIsAName) {
  EXPECT_EQ(expect_route("/v2/manifests/manifests/latest"),
            (Route{Route::Kind::Manifest, "manifests", "latest", false}));
}

TEST(ParseRouteTest, ManifestsComponentInsideNameUsesLastManifestsSegment) {
  EXPECT_EQ(expect_route("/v2/a/manifests/b/manifests/c"),
            (Route{Route::Kind::Manifest, "a/manifests/b", "c", false}));
}

TEST(ParseRouteTest, BlobByDigest) {
  EXPECT_EQ(expect_route("/v2/library/alpine/blobs/" + kDigest),
            (Route{Route::Kind::Blob, "library/alpine", kDigest, true}));
}

TEST(ParseRouteTest, RepositoryNamedBlobsIsAName) {
  EXPECT_EQ(expect_route("/v2/blobs/blobs/" + kDigest),
            (Route{Route::Kind::Blob, "blobs", kDigest, true}));
}

TEST(ParseRouteTest, TagsList) {
  EXPECT_EQ(expect_route("/v2/a/b/tags/list"), (Route{Route::Kind::TagsList, "a/b", {}, false}));
}

TEST(ParseRouteTest, RepositoryNamedTagsHasTagsList) {
  EXPECT_EQ(expect_route("/v2/tags/tags/list"), (Route{Route::Kind::TagsList, "tags", {}, false}));
}

TEST(ParseRouteTest, RouteViewsPointIntoThePath) {
  const std::string path = "/v2/a/b/manifests/latest";
  const Route route = expect_route(path);
  EXPECT_EQ(route.name.data(), path.data() + 4);
  EXPECT_EQ(route.reference.data(), path.data() + path.size() - 6);
}

TEST(ParseRouteTest, UppercaseNameIsNameInvalid) {
  expect_error_code("/v2/Library/alpine/manifests/latest", 400, OciErrorCode::NameInvalid);
}

TEST(ParseRouteTest, PercentEncodedNameIsNameInvalid) {
  expect_error_code("/v2/a%2Fb/manifests/latest", 400, OciErrorCode::NameInvalid);
}

TEST(ParseRouteTest, DotDotSegmentIsNameInvalid) {
  expect_error_code("/v2/a/../b/manifests/latest", 400, OciErrorCode::NameInvalid);
}

TEST(ParseRouteTest, EmptySegmentIsNameInvalid) {
  expect_error_code("/v2/a//b/manifests/latest", 400, OciErrorCode::NameInvalid);
  expect_error_code("/v2//manifests/latest", 400, OciErrorCode::NameInvalid);
}

TEST(ParseRouteTest, NameLongerThan255BytesIsNameInvalid) {
  expect_error_code("/v2/" + std::string(256, 'a') + "/manifests/latest", 400,
                    OciErrorCode::NameInvalid);
}

TEST(ParseRouteTest, InvalidNameInTagsListIsNameInvalid) {
  expect_error_code("/v2/a..b/tags/list", 400, OciErrorCode::NameInvalid);
}

TEST(ParseRouteTest, MalformedTagIsTagInvalid) {
  expect_error_code("/v2/a/manifests/-bad", 400, OciErrorCode::TagInvalid);
  expect_error_code("/v2/a/manifests/" + std::string(129, 't'), 400, OciErrorCode::TagInvalid);
}

TEST(ParseRouteTest, PercentEncodedTagIsTagInvalid) {
  expect_error_code("/v2/a/manifests/la%74est", 400, OciErrorCode::TagInvalid);
}

TEST(ParseRouteTest, MalformedManifestDigestIsDigestInvalid) {
  expect_error_code("/v2/a/manifests/sha256:abc", 400, OciErrorCode::DigestInvalid);
}

TEST(ParseRouteTest, BlobByTagIsDigestInvalid) {
  expect_error_code("/v2/a/blobs/latest", 400, OciErrorCode::DigestInvalid);
}

TEST(ParseRouteTest, MalformedBlobDigestIsDigestInvalid) {
  expect_error_code("/v2/a/blobs/sha256:" + std::string(64, 'A'), 400, OciErrorCode::DigestInvalid);
}

TEST(ParseRouteTest, UploadEndpointIsUnknownPath) {
  expect_error_code("/v2/x/blobs/uploads/", 404, OciErrorCode::Unsupported);
  expect_error_code("/v2/x/blobs/uploads", 404, OciErrorCode::Unsupported);
  expect_error_code("/v2/x/blobs/uploads/0f3c-4a1d", 404, OciErrorCode::Unsupported);
}

TEST(ParseRouteTest, CatalogIsUnknownPath) {
  expect_error_code("/v2/_catalog", 404, OciErrorCode::Unsupported);
}

TEST(ParseRouteTest, ReferrersIsUnknownPathSoClientsFallBack) {
  expect_error_code("/v2/a/referrers/" + kDigest, 404, OciErrorCode::Unsupported);
}

TEST(ParseRouteTest, PathsOutsideTheApiAreUnknown) {
  for (std::string_view path : {"", "/", "/v1/", "/v2x", "/v20/a/manifests/b", "v2/", "/V2/"}) {
    expect_error_code(path, 404, OciErrorCode::Unsupported);
  }
}

TEST(ParseRouteTest, RouteWithoutNameIsUnknownPath) {
  expect_error_code("/v2/manifests/latest", 404, OciErrorCode::Unsupported);
  expect_error_code("/v2/tags/list", 404, OciErrorCode::Unsupported);
}

TEST(ParseRouteTest, MissingReferenceIsUnknownPath) {
  expect_error_code("/v2/a/manifests/", 404, OciErrorCode::Unsupported);
  expect_error_code("/v2/a/blobs/", 404, OciErrorCode::Unsupported);
}

TEST(ParseRouteTest, TrailingSlashAfterRouteIsUnknownPath) {
  expect_error_code("/v2/a/tags/list/", 404, OciErrorCode::Unsupported);
  expect_error_code("/v2/a/manifests/latest/", 404, OciErrorCode::Unsupported);
}

TEST(ParseRouteTest, DoubleSlashAfterPrefixIsUnknownPath) {
  expect_error_code("/v2//", 404, OciErrorCode::Unsupported);
}

TEST(QueryParamTest, ReturnsValueOfKey) {
  EXPECT_EQ(query_param("ns=docker.io&x=1", "ns"), "docker.io");
  EXPECT_EQ(query_param("x=1&ns=ghcr.io", "ns"), "ghcr.io");
}

TEST(QueryParamTest, ReturnsFirstOfRepeatedValues) {
  EXPECT_EQ(query_param("a=1&a=2", "a"), "1");
}

TEST(QueryParamTest, MissingKeyGivesEmptyView) {
  EXPECT_TRUE(query_param("a=1", "ns").empty());
  EXPECT_TRUE(query_param("", "ns").empty());
}

TEST(QueryParamTest, KeyWithoutValueGivesEmptyView) {
  EXPECT_TRUE(query_param("ns&b=2", "ns").empty());
  EXPECT_TRUE(query_param("ns=&b=2", "ns").empty());
}

TEST(QueryParamTest, MatchesWholeKeysOnly) {
  EXPECT_EQ(query_param("nsx=1&xns=2&ns=3", "ns"), "3");
}

TEST(QueryParamTest, SkipsLeadingQuestionMark) {
  EXPECT_EQ(query_param("?ns=a", "ns"), "a");
}

TEST(QueryParamTest, DoesNotPercentDecode) {
  EXPECT_EQ(query_param("ns=docker%2Eio", "ns"), "docker%2Eio");
  EXPECT_TRUE(query_param("n%73=x", "ns").empty());
}

TEST(QueryParamTest, ValueMayContainEquals) {
  EXPECT_EQ(query_param("a=b=c", "a"), "b=c");
}

TEST(QueryParamTest, SkipsEmptyPairs) {
  EXPECT_EQ(query_param("&&ns=a&", "ns"), "a");
}

TEST(RegistryHostTest, AcceptsHostNamesAndIpv4WithOptionalPort) {
  for (std::string_view host : {"docker.io", "ghcr.io", "localhost", "localhost:5000", "10.0.0.1",
                                "10.0.0.1:5000", "registry.example.com:443"}) {
    EXPECT_TRUE(is_valid_registry_host(host)) << host;
  }
}

TEST(RegistryHostTest, RejectsUppercaseBadPortsPathsAndIpv6) {
  for (std::string_view host :
       {"", "Docker.io", "docker.io:", "docker.io:0", "docker.io:70000", "[::1]:5000", "::1",
        "docker.io/x", "host:5000:1", ":5000", "docker%2Eio", "user@docker.io", "256.1.1.1"}) {
    EXPECT_FALSE(is_valid_registry_host(host)) << host;
  }
}

TEST(DockerHubNameTest, OneComponentNameGetsLibraryPrefix) {
  EXPECT_EQ(docker_hub_name("alpine"), "library/alpine");
}

TEST(DockerHubNameTest, NameWithSlashIsUnchanged) {
  EXPECT_EQ(docker_hub_name("bitnami/redis"), "bitnami/redis");
  EXPECT_EQ(docker_hub_name("library/alpine"), "library/alpine");
  EXPECT_EQ(docker_hub_name("a/b/c"), "a/b/c");
}

TEST(NsParam, DecodesIntoTheBufferAndRefusesWhatDoesNotFit) {
  RegistryHostBuffer buffer;
  EXPECT_EQ(ns_param("a=1&ns=h%3A1", buffer), std::optional<std::string_view>("h:1"));
  EXPECT_EQ(ns_param("a=1", buffer), std::optional<std::string_view>(""));
  std::string long_host = "ns=" + std::string(kRegistryHostBytesMax + 1, 'a');
  EXPECT_EQ(ns_param(long_host, buffer), std::nullopt);
  std::string fits = "ns=" + std::string(kRegistryHostBytesMax, 'a');
  EXPECT_EQ(ns_param(fits, buffer)->size(), kRegistryHostBytesMax);
}

} // namespace
} // namespace regcache::registry

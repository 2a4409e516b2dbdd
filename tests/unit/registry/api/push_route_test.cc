#include "registry/api/push_route.h"

#include <gtest/gtest.h>

#include <string>

namespace regcache::registry {
namespace {

const std::string kDigest = "sha256:" + std::string(64, 'b');

TEST(PushRouteTest, NamesThePushMethods) {
  for (std::string_view method : {"POST", "PUT", "PATCH", "DELETE"})
    EXPECT_TRUE(is_push_method(method)) << method;
  for (std::string_view method : {"GET", "HEAD", "OPTIONS", "post", "CONNECT"})
    EXPECT_FALSE(is_push_method(method)) << method;
}

TEST(PushRouteTest, ParsesTheStartOfAnUploadWithAndWithoutTheTrailingSlash) {
  for (std::string_view path : {"/v2/org/app/blobs/uploads/", "/v2/org/app/blobs/uploads"}) {
    const std::optional<PushRoute> route = parse_push_route(path);
    ASSERT_TRUE(route) << path;
    EXPECT_EQ(route->kind, PushRoute::Kind::UploadStart);
    EXPECT_EQ(route->name, "org/app");
    EXPECT_EQ(route->suffix, path.substr(std::string_view("/v2/org/app").size()));
    EXPECT_TRUE(route->tag.empty());
  }
}

TEST(PushRouteTest, ParsesAnUploadSessionOfOneUrlSafeSegment) {
  const std::optional<PushRoute> route =
      parse_push_route("/v2/ghcr.io/org/app/blobs/uploads/3f2a-99_x=");
  ASSERT_TRUE(route);
  EXPECT_EQ(route->kind, PushRoute::Kind::UploadSession);
  EXPECT_EQ(route->name, "ghcr.io/org/app");
  EXPECT_EQ(route->suffix, "/blobs/uploads/3f2a-99_x=");
}

TEST(PushRouteTest, RefusesSessionsThatCouldLeaveTheRepositoryPath) {
  EXPECT_FALSE(parse_push_route("/v2/app/blobs/uploads/.."));
  EXPECT_FALSE(parse_push_route("/v2/app/blobs/uploads/a%2F..%2Fb"));
  EXPECT_FALSE(parse_push_route("/v2/app/blobs/uploads/" + std::string(600, 'a')));
}

TEST(PushRouteTest, ParsesAManifestByTagWithItsTag) {
  const std::optional<PushRoute> route = parse_push_route("/v2/pushed/app/manifests/v1");
  ASSERT_TRUE(route);
  EXPECT_EQ(route->kind, PushRoute::Kind::Manifest);
  EXPECT_EQ(route->name, "pushed/app");
  EXPECT_EQ(route->suffix, "/manifests/v1");
  EXPECT_EQ(route->tag, "v1");
}

TEST(PushRouteTest, ParsesAManifestByDigestWithoutATag) {
  const std::string path = "/v2/app/manifests/" + kDigest; // the route's views point into it
  const std::optional<PushRoute> route = parse_push_route(path);
  ASSERT_TRUE(route);
  EXPECT_EQ(route->kind, PushRoute::Kind::Manifest);
  EXPECT_TRUE(route->tag.empty());
}

TEST(PushRouteTest, ParsesABlobByDigest) {
  const std::string path = "/v2/app/blobs/" + kDigest;
  const std::optional<PushRoute> route = parse_push_route(path);
  ASSERT_TRUE(route);
  EXPECT_EQ(route->kind, PushRoute::Kind::Blob);
  EXPECT_EQ(route->name, "app");
}

TEST(PushRouteTest, RefusesPathsOutsideThePushApi) {
  EXPECT_FALSE(parse_push_route("/v2/"));
  EXPECT_FALSE(parse_push_route("/v2/blobs/uploads/"));
  EXPECT_FALSE(parse_push_route("/v2/app/tags/list"));
  EXPECT_FALSE(parse_push_route("/v2/App/manifests/v1"));
  EXPECT_FALSE(parse_push_route("/v2/app/manifests/sha256:"));
  EXPECT_FALSE(parse_push_route("/v2/app/blobs/v1"));
  EXPECT_FALSE(parse_push_route("/other/app/blobs/uploads/"));
}

} // namespace
} // namespace regcache::registry

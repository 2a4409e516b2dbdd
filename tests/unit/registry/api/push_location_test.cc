#include "registry/api/push_location.h"

#include <gtest/gtest.h>

namespace regcache::registry {
namespace {

// The upstream as the router makes it: parsed from its URL.
http::Endpoint endpoint(std::string_view url) {
  http::Endpoint out;
  std::string target;
  EXPECT_TRUE(http::parse_absolute_url(url, out, target)) << url;
  return out;
}

TEST(PushLocationTest, TurnsAnAbsoluteUrlOnTheUpstreamIntoAPathOnRegcache) {
  const http::Endpoint upstream = endpoint("http://127.0.0.1:5000/");
  const PushLocationContext context{&upstream, "pushed/app", "pushed/app", {}};
  EXPECT_EQ(rewrite_push_location(
                "http://127.0.0.1:5000/v2/pushed/app/blobs/uploads/u-1?_state=abc", context),
            "/v2/pushed/app/blobs/uploads/u-1?_state=abc");
}

TEST(PushLocationTest, MatchesTheUpstreamsHostWithoutCaseAndItsDefaultPort) {
  const http::Endpoint upstream = endpoint("https://registry.example/");
  const PushLocationContext context{&upstream, "app", "app", {}};
  EXPECT_EQ(rewrite_push_location("https://Registry.Example:443/v2/app/blobs/uploads/1", context),
            "/v2/app/blobs/uploads/1");
}

TEST(PushLocationTest, PutsTheClientsNameBackForTheUpstreamsName) {
  const http::Endpoint upstream = endpoint("https://ghcr.io/");
  const PushLocationContext context{&upstream, "org/app", "ghcr.io/org/app", {}};
  EXPECT_EQ(rewrite_push_location("/v2/org/app/blobs/uploads/1?_state=x", context),
            "/v2/ghcr.io/org/app/blobs/uploads/1?_state=x");
  const PushLocationContext hub{&upstream, "library/app", "app", {}};
  EXPECT_EQ(rewrite_push_location("https://ghcr.io/v2/library/app/blobs/uploads/2", hub),
            "/v2/app/blobs/uploads/2");
}

TEST(PushLocationTest, DoesNotTakeANameThatOnlyStartsLikeTheUpstreamsName) {
  const http::Endpoint upstream = endpoint("https://r.example/");
  const PushLocationContext context{&upstream, "org/app", "x/org/app", {}};
  EXPECT_EQ(rewrite_push_location("/v2/org/application/blobs/uploads/1", context),
            "/v2/org/application/blobs/uploads/1");
}

TEST(PushLocationTest, AddsTheNsParameterTheRequestWasRoutedBy) {
  const http::Endpoint upstream = endpoint("http://registry.corp:5000/");
  const PushLocationContext context{&upstream, "app", "app", "registry.corp%3A5000"};
  EXPECT_EQ(rewrite_push_location("/v2/app/blobs/uploads/1", context),
            "/v2/app/blobs/uploads/1?ns=registry.corp%3A5000");
  EXPECT_EQ(
      rewrite_push_location("http://registry.corp:5000/v2/app/blobs/uploads/1?_state=s", context),
      "/v2/app/blobs/uploads/1?_state=s&ns=registry.corp%3A5000");
}

TEST(PushLocationTest, LeavesAUrlOnAnotherHostOrSchemeAlone) {
  const http::Endpoint upstream = endpoint("https://registry.example/");
  const PushLocationContext context{&upstream, "app", "app", "registry.example"};
  for (std::string_view location :
       {"https://storage.example/bucket/upload?sig=1", "http://registry.example/v2/app/x",
        "https://registry.example:8443/v2/app/blobs/uploads/1", "uploads/relative"}) {
    EXPECT_EQ(rewrite_push_location(location, context), location);
  }
}

} // namespace
} // namespace regcache::registry

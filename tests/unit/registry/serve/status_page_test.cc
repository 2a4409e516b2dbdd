#include "registry/serve/status_page.h"

#include <gtest/gtest.h>

#include <string>

namespace regcache::registry {
namespace {

StatusPageView sample_view() {
  StatusPageView view;
  view.version = "1.2.3";
  view.now_unix_s = 1796173200; // 2026-12-02 01:00 UTC
  view.requests = 20;
  view.lookups = 8;
  view.answered = 7;
  view.cache_bytes = 3 << 20;
  view.days.push_back(DayTraffic{20789, 8, 7, 3 << 20, 20});
  view.days.push_back(DayTraffic{20788, 4, 1, 1024, 5});
  view.cache_content_bytes = uint64_t{5} << 30;
  view.cache_entries = 120;
  view.cache_max_bytes = uint64_t{32} << 30;
  view.min_free_bytes = 1 << 30;
  view.fs_total_bytes = uint64_t{100} << 30;
  view.fs_free_bytes = uint64_t{40} << 30;
  view.most_pulled.push_back(RankedImage{"library/alpine:3.20", 5, 0, 0});
  view.largest.push_back(RankedImage{"library/debian:12", 0, 0, 49 << 20});
  view.downloads_running = 1;
  view.downloads.push_back(DownloadRow{"sha256:abc", "library/debian", 1 << 20, 4 << 20, 2, false});
  view.upstreams.push_back(UpstreamRow{"registry-1.docker.io", {}, {}, {}, {}, {}, {}});
  return view;
}

// The element a data-key names, as rendered (attribute order as the renderer writes it).
bool has_number(const std::string &page, const std::string &key, const std::string &value) {
  return page.find("data-key=\"" + key + "\" data-value=\"" + value + "\"") != std::string::npos;
}

TEST(StatusPage, CarriesEveryKeyNumberExactly) {
  const std::string page = render_status_page(sample_view());
  EXPECT_TRUE(has_number(page, "total.requests", "20"));
  EXPECT_TRUE(has_number(page, "total.lookups", "8"));
  EXPECT_TRUE(has_number(page, "total.answered", "7"));
  EXPECT_TRUE(has_number(page, "total.hit_ratio", "0.875000"));
  EXPECT_TRUE(has_number(page, "total.cache_bytes", "3145728"));
  EXPECT_TRUE(has_number(page, "day.2026-12-02.lookups", "8"));
  EXPECT_TRUE(has_number(page, "day.2026-12-01.answered", "1"));
  EXPECT_TRUE(has_number(page, "disk.content_bytes", "5368709120"));
  EXPECT_TRUE(has_number(page, "disk.max_bytes", "34359738368"));
  EXPECT_TRUE(has_number(page, "disk.min_free_bytes", "1073741824"));
  EXPECT_TRUE(has_number(page, "disk.entries", "120"));
  EXPECT_TRUE(has_number(page, "pulled.0.pulls", "5"));
  EXPECT_TRUE(has_number(page, "largest.0.bytes", "51380224"));
  EXPECT_TRUE(has_number(page, "downloads.running", "1"));
  EXPECT_TRUE(has_number(page, "download.0.written_bytes", "1048576"));
  EXPECT_TRUE(has_number(page, "download.0.total_bytes", "4194304"));
  EXPECT_TRUE(has_number(page, "download.0.readers", "2"));
}

TEST(StatusPage, ShowsNumbersForPeople) {
  const std::string page = render_status_page(sample_view());
  EXPECT_NE(page.find(">87.5%<"), std::string::npos);
  EXPECT_NE(page.find(">3.0 MiB<"), std::string::npos);
  EXPECT_NE(page.find(">32.0 GiB<"), std::string::npos);
  EXPECT_NE(page.find(" 25.0%"), std::string::npos); // the download's progress
}

TEST(StatusPage, HasNoScriptAndNoExternalAsset) {
  const std::string page = render_status_page(sample_view());
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_EQ(page.find("src="), std::string::npos);
  EXPECT_EQ(page.find("href="), std::string::npos);
  EXPECT_EQ(page.find("url("), std::string::npos);
  EXPECT_EQ(page.find("@import"), std::string::npos);
}

TEST(StatusPage, EscapesNamesFromClients) {
  StatusPageView view = sample_view();
  view.most_pulled[0].name = "<script>alert(1)</script>:latest";
  view.largest[0].name = "x\" onmouseover=\"alert(1):1";
  view.downloads[0].repository = "<img src=x onerror=alert(1)>";
  const std::string page = render_status_page(view);
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_EQ(page.find("<img"), std::string::npos);
  EXPECT_EQ(page.find("\" onmouseover"), std::string::npos);
  EXPECT_NE(page.find("&lt;script&gt;alert(1)&lt;/script&gt;:latest"), std::string::npos);
  EXPECT_NE(page.find("x&quot; onmouseover=&quot;alert(1):1"), std::string::npos);
}

TEST(StatusPage, EscapesStringsFromOperatorsAndUpstreams) {
  StatusPageView view = sample_view();
  view.upstreams[0].host = "<b>host</b>";
  view.upstreams[0].ratelimit = RateLimitRow{100, 42, 21600, "<i>ci</i>"};
  view.recent_errors.push_back(RecentErrorRow{
      1796173200, "<u>up</u>", "GET", "/v2/<x>/manifests/1", {}, "<em>refused</em>"});
  const std::string page = render_status_page(view);
  for (const char *tag : {"<b>", "<i>", "<u>", "<x>", "<em>"})
    EXPECT_EQ(page.find(tag), std::string::npos) << tag;
  EXPECT_TRUE(has_number(page, "upstream.0.ratelimit_remaining", "42"));
}

TEST(StatusPage, UnknownUpstreamHealthReadsNotCheckedYet) {
  const std::string page = render_status_page(sample_view());
  EXPECT_NE(page.find("not checked yet"), std::string::npos);
  EXPECT_NE(page.find(">registry-1.docker.io<"), std::string::npos);
}

TEST(StatusPage, HitRatioBeforeAnyLookupIsNotANumber) {
  StatusPageView view;
  const std::string page = render_status_page(view);
  EXPECT_TRUE(has_number(page, "total.hit_ratio", ""));
  EXPECT_NE(page.find("no requests"), std::string::npos);
}

TEST(HtmlEscape, ReplacesEveryMarkupCharacter) {
  EXPECT_EQ(html_escape("a&b<c>d\"e'f"), "a&amp;b&lt;c&gt;d&quot;e&#39;f");
  EXPECT_EQ(html_escape("plain/name:tag"), "plain/name:tag");
}

TEST(FormatDay, NamesTheUtcDate) {
  EXPECT_EQ(format_day(0), "1970-01-01");
  EXPECT_EQ(format_day(20789), "2026-12-02");
}

} // namespace
} // namespace regcache::registry

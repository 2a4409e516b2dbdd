// A real Server whose only upstream refuses connections: the health probe reaches it (no
// client request needed), Server::upstream_observations() and recent_upstream_errors() say
// what happened, and readiness fails with the reason.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "registry/config/options.h"
#include "registry/daemon/server.h"
#include "tests/unit/registry/daemon/loopback_port.h"

namespace regcache::registry {
namespace {

class UpstreamObservationsTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::array<char, 64> dir_template{"/tmp/regcache-observations-XXXXXX"};
    ASSERT_NE(::mkdtemp(dir_template.data()), nullptr);
    root_ = dir_template.data();
    listen_ = "127.0.0.1:" + std::to_string(testing::free_loopback_port());
    upstream_authority_ = "127.0.0.1:" + std::to_string(testing::free_loopback_port());
    upstream_url_ = "http://" + upstream_authority_;
  }
  void TearDown() override {
    if (server_) {
      server_->request_stop();
      server_->join();
    }
    std::filesystem::remove_all(root_);
  }
  void start() {
    std::array<const char *, 9> argv{"regcache",
                                     "--listen",
                                     listen_.c_str(),
                                     "--upstream",
                                     upstream_url_.c_str(),
                                     "--cache-dir",
                                     root_.c_str(),
                                     "--upstream-check-interval-ms",
                                     "60000"};
    ParsedOptions options = parse_options(argv);
    ASSERT_EQ(options.outcome, ParsedOptions::Outcome::Run) << options.message;
    server_ = std::make_unique<Server>(std::move(options.config));
    std::string error;
    ASSERT_TRUE(server_->start(&error)) << error;
  }

  std::string root_;
  std::string listen_;
  std::string upstream_authority_;
  std::string upstream_url_;
  std::unique_ptr<Server> server_;
};

TEST_F(UpstreamObservationsTest, TheProbeMarksARefusingUpstreamDownAndReadinessFails) {
  start();
  // The first probe goes out a tick after the start (nothing has reached the upstream yet).
  bool checked = false;
  for (int turn = 0; turn < 200 && !checked; ++turn) { // at most 10 s
    checked = server_->upstream_observations().at(0).last_check_unix_s != 0;
    if (!checked)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(checked) << "no probe within 10 s";
  const UpstreamObservation seen = server_->upstream_observations().at(0);
  EXPECT_EQ(seen.host, upstream_authority_);
  EXPECT_FALSE(seen.up);
  EXPECT_GE(seen.requests, 1u);
  EXPECT_EQ(seen.errors, seen.requests);
  EXPECT_EQ(seen.too_many_requests, 0u);
  EXPECT_FALSE(seen.ratelimit);

  const std::vector<RecentUpstreamError> recent = server_->recent_upstream_errors();
  ASSERT_FALSE(recent.empty());
  EXPECT_EQ(recent.back().upstream, upstream_authority_);
  EXPECT_EQ(recent.back().method, "GET");
  EXPECT_EQ(recent.back().path, "/v2/");
  EXPECT_EQ(recent.back().status, 0);
  EXPECT_FALSE(recent.back().error.empty());

  std::string why;
  EXPECT_FALSE(server_->ready(&why));
  EXPECT_NE(why.find("no upstream answered"), std::string::npos) << why;
  EXPECT_NE(why.find(upstream_authority_), std::string::npos) << why;
}

TEST_F(UpstreamObservationsTest, TheMetricsShowTheUpstreamDown) {
  start();
  const std::string down = "regcache_upstream_up{upstream=\"" + upstream_authority_ + "\"} 0";
  bool shown = false;
  for (int turn = 0; turn < 200 && !shown; ++turn) { // at most 10 s
    shown = server_->metrics_text().find(down) != std::string::npos;
    if (!shown)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(shown) << server_->metrics_text();
  EXPECT_NE(server_->metrics_text().find("regcache_upstream_requests_total{upstream=\"" +
                                         upstream_authority_ + "\",status=\"error\"}"),
            std::string::npos);
}

} // namespace
} // namespace regcache::registry

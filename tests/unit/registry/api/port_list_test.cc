#include "registry/api/port_list.h"

#include <gtest/gtest.h>

namespace regcache::registry {
namespace {

PortList parsed(std::string_view text) {
  std::string problem;
  std::optional<PortList> list = parse_port_list(text, &problem);
  EXPECT_TRUE(list.has_value()) << text << ": " << problem;
  return list.value_or(PortList{});
}

TEST(PortListTest, AcceptsPortsAndRanges) {
  PortList list = parsed("443, 5000-5999,8443");
  EXPECT_TRUE(list.given);
  EXPECT_TRUE(list.contains(443));
  EXPECT_TRUE(list.contains(5000));
  EXPECT_TRUE(list.contains(5999));
  EXPECT_TRUE(list.contains(8443));
  EXPECT_FALSE(list.contains(4999));
  EXPECT_FALSE(list.contains(6000));
  EXPECT_FALSE(list.contains(80));
}

TEST(PortListTest, AnyAllowsEveryPort) {
  PortList list = parsed(" any ");
  EXPECT_TRUE(list.any);
  EXPECT_TRUE(list.contains(1));
  EXPECT_TRUE(list.contains(65535));
}

TEST(PortListTest, RefusesBadPartsNamingThem) {
  for (std::string_view text :
       {"", "0", "65536", "443,", "a", "10-5", "1-", "-5", "443;80", "1--2", "any,443", "+443"}) {
    std::string problem;
    EXPECT_FALSE(parse_port_list(text, &problem).has_value()) << text;
    EXPECT_FALSE(problem.empty()) << text;
  }
  std::string problem;
  parse_port_list("443,9x", &problem);
  EXPECT_NE(problem.find("'9x'"), std::string::npos) << problem;
}

TEST(PortListTest, RefusesMoreRangesThanTheBound) {
  std::string text = "1";
  for (size_t i = 2; i <= PortList::kRangesMax + 1; ++i)
    text += "," + std::to_string(i);
  std::string problem;
  EXPECT_FALSE(parse_port_list(text, &problem).has_value());
}

} // namespace
} // namespace regcache::registry

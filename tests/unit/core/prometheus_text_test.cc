#include "core/prometheus_text.h"

#include <gtest/gtest.h>

namespace regcache::core {
namespace {

TEST(PrometheusText, FamilyHeaderAndSamples) {
  PrometheusText out;
  out.family("x_total", PrometheusText::Type::Counter, "things\\counted\nhere");
  out.sample("x_total", {}, uint64_t{3});
  out.sample("x_total", {{"kind", "blob"}, {"result", "hit"}}, uint64_t{18446744073709551615u});
  out.family("g", PrometheusText::Type::Gauge, "a gauge");
  out.sample("g", {{"a", "b"}}, 0.25);
  EXPECT_EQ(out.text(), "# HELP x_total things\\\\counted\\nhere\n"
                        "# TYPE x_total counter\n"
                        "x_total 3\n"
                        "x_total{kind=\"blob\",result=\"hit\"} 18446744073709551615\n"
                        "# HELP g a gauge\n"
                        "# TYPE g gauge\n"
                        "g{a=\"b\"} 0.25\n");
}

TEST(PrometheusText, LabelValuesAreEscaped) {
  std::string out;
  append_label_value(out, "a\"b\\c\nd");
  EXPECT_EQ(out, "a\\\"b\\\\c\\nd");
}

TEST(PrometheusText, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  PrometheusText out;
  const double bounds[] = {0.5, 1};
  const uint64_t counts[] = {2, 0, 5}; // 2 at or below 0.5, none in (0.5, 1], 5 above 1
  out.histogram("d_seconds", {{"kind", "ping"}}, bounds, 2, counts, 12.5);
  EXPECT_EQ(out.text(), "d_seconds_bucket{kind=\"ping\",le=\"0.5\"} 2\n"
                        "d_seconds_bucket{kind=\"ping\",le=\"1\"} 2\n"
                        "d_seconds_bucket{kind=\"ping\",le=\"+Inf\"} 7\n"
                        "d_seconds_sum{kind=\"ping\"} 12.5\n"
                        "d_seconds_count{kind=\"ping\"} 7\n");
}

} // namespace
} // namespace regcache::core

#include "hp/core/metrics.h"

#include <gtest/gtest.h>

namespace hp::core {
namespace {

TEST(Metrics, RendersPrometheusTextFormat) {
  MetricsRegistry r;
  r.GetCounter("hp_test_total", "Things counted", {{"kind", "a\"b"}}).Inc(3);
  r.GetGauge("hp_test_gauge", "A level").Set(-7);
  auto& h = r.GetHistogram("hp_test_seconds", "Latency", {}, {0.1, 1});
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(5);
  std::string text = r.RenderPrometheus();
  EXPECT_NE(text.find("# TYPE hp_test_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("hp_test_total{kind=\"a\\\"b\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("hp_test_gauge -7\n"), std::string::npos);
  EXPECT_NE(text.find("hp_test_seconds_bucket{le=\"0.1\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("hp_test_seconds_bucket{le=\"1\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("hp_test_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("hp_test_seconds_count 3\n"), std::string::npos);
  // The same name and labels give the same metric object.
  EXPECT_EQ(&r.GetCounter("hp_test_total", "Things counted", {{"kind", "a\"b"}}),
            &r.GetCounter("hp_test_total", "Things counted", {{"kind", "a\"b"}}));
}

}  // namespace
}  // namespace hp::core

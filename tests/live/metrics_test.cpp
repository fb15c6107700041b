#include "liveql/live/metrics.hpp"

#include <gtest/gtest.h>

namespace liveql::live {
namespace {

TEST(Metrics, CounterAndGaugeRender) {
  Metrics m;
  m.register_counter("liveql_pushes_total", "Pushes.");
  m.register_gauge("liveql_subscribers", "Subscribers.");
  m.inc("liveql_pushes_total");
  m.inc("liveql_pushes_total", 2);
  m.set("liveql_subscribers", 7);
  m.inc("liveql_pushes_total", 1, {{"role", "us\"er"}});
  EXPECT_EQ(m.value("liveql_pushes_total"), 3);
  EXPECT_EQ(m.value("liveql_pushes_total", {{"role", "us\"er"}}), 1);
  std::string text = m.render_prometheus();
  EXPECT_NE(text.find("# HELP liveql_pushes_total Pushes.\n# TYPE liveql_pushes_total counter\n"),
            std::string::npos);
  EXPECT_NE(text.find("\nliveql_pushes_total 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nliveql_pushes_total{role=\"us\\\"er\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE liveql_subscribers gauge\nliveql_subscribers 7\n"), std::string::npos)
      << text;
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  Metrics m;
  m.register_histogram("lat_seconds", "Latency.", {0.1, 1});
  m.observe("lat_seconds", 0.05);
  m.observe("lat_seconds", 0.5);
  m.observe("lat_seconds", 5);
  std::string text = m.render_prometheus();
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"0.1\"} 1\n"
                      "lat_seconds_bucket{le=\"1\"} 2\n"
                      "lat_seconds_bucket{le=\"+Inf\"} 3\n"
                      "lat_seconds_sum 5.55\n"
                      "lat_seconds_count 3\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(m.value("lat_seconds"), 3);
}

TEST(Metrics, UnregisteredNameRegistersItself) {
  Metrics m;
  m.inc("surprise_total");
  EXPECT_NE(m.render_prometheus().find("# TYPE surprise_total counter\nsurprise_total 1\n"),
            std::string::npos);
  EXPECT_EQ(m.value("missing"), 0);
}

TEST(Metrics, EmptyFamilyRendersZero) {
  Metrics m;
  m.register_counter("liveql_errors_total", "Errors.");
  EXPECT_NE(m.render_prometheus().find("\nliveql_errors_total 0\n"), std::string::npos);
}

}  // namespace
}  // namespace liveql::live

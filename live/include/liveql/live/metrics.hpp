// Metrics: counters, gauges and histograms by name (+ optional labels), rendered in the
// Prometheus text exposition format 0.0.4 for GET /metrics.
//
// Not thread-safe by design: it lives on the single io_context thread (server/src/app.hpp).
// Registration is idempotent; using a name that was never registered registers it on the fly
// (as the kind the call implies, with empty help), so a forgotten registration is never a crash.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace liveql::live {

class Metrics {
 public:
  // Label pairs, e.g. {{"role", "user"}}. Order does not matter (they are sorted).
  using Labels = std::vector<std::pair<std::string, std::string>>;

  // Prometheus' default buckets, in seconds.
  static const std::vector<double>& default_buckets();

  void register_counter(std::string name, std::string help);
  void register_gauge(std::string name, std::string help);
  // `buckets`: upper bounds, ascending; +Inf is implicit.
  void register_histogram(std::string name, std::string help,
                          std::vector<double> buckets = default_buckets());

  void inc(std::string_view name, double by = 1, const Labels& labels = {});     // counter or gauge
  void set(std::string_view name, double value, const Labels& labels = {});      // gauge
  void observe(std::string_view name, double value, const Labels& labels = {});  // histogram

  // Current value of a counter or gauge (0 if absent); a histogram's count. For tests and views.
  double value(std::string_view name, const Labels& labels = {}) const;

  std::string render_prometheus() const;

 private:
  enum class Kind { kCounter, kGauge, kHistogram };
  struct Histogram {
    std::vector<std::uint64_t> counts;  // per bucket (not cumulative)
    std::uint64_t count = 0;
    double sum = 0;
  };
  struct Family {
    Kind kind = Kind::kCounter;
    std::string help;
    std::vector<double> buckets;
    std::map<Labels, double> values;
    std::map<Labels, Histogram> histograms;
  };
  Family& family(std::string_view name, Kind kind);

  std::map<std::string, Family, std::less<>> families_;
};

}  // namespace liveql::live

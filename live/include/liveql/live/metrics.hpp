// Metrics: counters, gauges and histograms by name (+ optional labels), rendered in the
// Prometheus text exposition format 0.0.4 for GET /metrics.
//
// Thread-safe: the core and every I/O thread (server/src/io_threads.hpp) may call any method at
// any time; one mutex guards everything (an update is a map lookup, far cheaper than the work it
// counts). Registration is idempotent; using a name that was never registered registers it on the
// fly (as the kind the call implies, with empty help), so a forgotten registration is never a
// crash.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <span>
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
  // Many observations under one lock and one lookup (a burst of pushes).
  void observe(std::string_view name, std::span<const double> values, const Labels& labels = {});

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
  Family& family(std::string_view name, Kind kind);  // with mutex_ held

  mutable std::mutex mutex_;
  std::map<std::string, Family, std::less<>> families_;  // guarded by mutex_
};

}  // namespace liveql::live

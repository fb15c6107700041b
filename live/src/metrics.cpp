#include "liveql/live/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace liveql::live {

namespace {

Metrics::Labels sorted(const Metrics::Labels& labels) {
  Metrics::Labels out = labels;
  std::sort(out.begin(), out.end());
  return out;
}

std::string escape_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string escape_help(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);
}

// {a="1",b="2"} with an optional extra pair (le for buckets); "" when empty.
std::string label_text(const Metrics::Labels& labels, const char* extra_name = nullptr,
                       const std::string& extra_value = "") {
  if (labels.empty() && extra_name == nullptr) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k + "=\"" + escape_label(v) + "\"";
  }
  if (extra_name != nullptr) {
    if (!first) out += ',';
    out += std::string(extra_name) + "=\"" + escape_label(extra_value) + "\"";
  }
  out += '}';
  return out;
}

}  // namespace

const std::vector<double>& Metrics::default_buckets() {
  static const std::vector<double> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                               0.5,   1,    2.5,   5,    10};
  return kBuckets;
}

void Metrics::register_counter(std::string name, std::string help) {
  std::lock_guard lock(mutex_);
  family(name, Kind::kCounter).help = std::move(help);
}

void Metrics::register_gauge(std::string name, std::string help) {
  std::lock_guard lock(mutex_);
  family(name, Kind::kGauge).help = std::move(help);
}

void Metrics::register_histogram(std::string name, std::string help, std::vector<double> buckets) {
  std::lock_guard lock(mutex_);
  auto& f = family(name, Kind::kHistogram);
  f.help = std::move(help);
  std::sort(buckets.begin(), buckets.end());
  if (f.histograms.empty()) f.buckets = std::move(buckets);
}

Metrics::Family& Metrics::family(std::string_view name, Kind kind) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{}).first;
    it->second.kind = kind;
    if (kind == Kind::kHistogram) it->second.buckets = default_buckets();
  }
  return it->second;
}

void Metrics::inc(std::string_view name, double by, const Labels& labels) {
  std::lock_guard lock(mutex_);
  family(name, Kind::kCounter).values[sorted(labels)] += by;
}

void Metrics::set(std::string_view name, double value, const Labels& labels) {
  std::lock_guard lock(mutex_);
  family(name, Kind::kGauge).values[sorted(labels)] = value;
}

void Metrics::observe(std::string_view name, double value, const Labels& labels) {
  observe(name, std::span<const double>(&value, 1), labels);
}

void Metrics::observe(std::string_view name, std::span<const double> values, const Labels& labels) {
  std::lock_guard lock(mutex_);
  auto& f = family(name, Kind::kHistogram);
  auto& h = f.histograms[sorted(labels)];
  if (h.counts.size() != f.buckets.size()) h.counts.assign(f.buckets.size(), 0);
  for (double value : values) {
    auto bucket = std::lower_bound(f.buckets.begin(), f.buckets.end(), value);
    if (bucket != f.buckets.end()) ++h.counts[static_cast<size_t>(bucket - f.buckets.begin())];
    ++h.count;
    h.sum += value;
  }
}

double Metrics::value(std::string_view name, const Labels& labels) const {
  std::lock_guard lock(mutex_);
  auto it = families_.find(name);
  if (it == families_.end()) return 0;
  auto key = sorted(labels);
  if (it->second.kind == Kind::kHistogram) {
    auto h = it->second.histograms.find(key);
    return h == it->second.histograms.end() ? 0 : static_cast<double>(h->second.count);
  }
  auto v = it->second.values.find(key);
  return v == it->second.values.end() ? 0 : v->second;
}

std::string Metrics::render_prometheus() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& [name, f] : families_) {
    const char* type = f.kind == Kind::kCounter ? "counter"
                       : f.kind == Kind::kGauge ? "gauge"
                                                : "histogram";
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, escape_help(f.help), name, type);
    if (f.kind != Kind::kHistogram) {
      if (f.values.empty()) out += name + " 0\n";
      for (const auto& [labels, v] : f.values) {
        out += name + label_text(labels) + " " + number(v) + "\n";
      }
      continue;
    }
    for (const auto& [labels, h] : f.histograms) {
      std::uint64_t cumulative = 0;
      for (size_t i = 0; i < f.buckets.size(); ++i) {
        cumulative += i < h.counts.size() ? h.counts[i] : 0;
        out += name + "_bucket" + label_text(labels, "le", number(f.buckets[i])) + " " +
               number(static_cast<double>(cumulative)) + "\n";
      }
      out += name + "_bucket" + label_text(labels, "le", "+Inf") + " " +
             number(static_cast<double>(h.count)) + "\n";
      out += name + "_sum" + label_text(labels) + " " + number(h.sum) + "\n";
      out +=
          name + "_count" + label_text(labels) + " " + number(static_cast<double>(h.count)) + "\n";
    }
  }
  return out;
}

}  // namespace liveql::live

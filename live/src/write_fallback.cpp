#include "write_fallback.hpp"

#include <algorithm>
#include <cmath>
#include <set>

namespace liveql::live {

namespace {

bool all_held(const WriteFallback::TableLoad& l) {
  return l.event_cohorts > 0 && l.held_cohorts == l.event_cohorts;
}

std::string rounded(double x) { return std::to_string(std::llround(x)); }

// "1.5 s": to a tenth of a second.
std::string seconds(WriteFallback::Clock::duration d) {
  const auto tenths = std::chrono::duration_cast<std::chrono::milliseconds>(d).count() / 100;
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " s";
}

}  // namespace

std::vector<std::string> WriteFallback::watched(const Loads& loads) const {
  std::vector<std::string> out;
  for (const auto& [name, load] : loads) {
    if (all_held(load) || in_fallback(name)) out.push_back(name);
  }
  return out;
}

std::optional<double> WriteFallback::rate(const Table& t, Clock::time_point now) const {
  if (t.samples.size() < 2 || t.samples.front().first > now - options_.rate_window)
    return std::nullopt;
  const auto& [t0, c0] = t.samples.front();
  const auto& [t1, c1] = t.samples.back();
  const double span = std::chrono::duration<double>(t1 - t0).count();
  if (span <= 0) return std::nullopt;
  return static_cast<double>(c1 - c0) / span;
}

std::vector<WriteFallback::Switch> WriteFallback::tick(Clock::time_point now, const Loads& loads,
                                                       const RowChanges& row_changes,
                                                       std::optional<std::uint64_t> restart_bytes) {
  std::set<std::string> names;
  for (const auto& [name, load] : loads) names.insert(name);
  for (const auto& [name, table] : tables_) names.insert(name);

  std::vector<Switch> out;
  const TableLoad nobody;
  for (const auto& name : names) {
    auto found = loads.find(name);
    const TableLoad& load = found == loads.end() ? nobody : found->second;
    Table& t = tables_[name];

    if (auto changes = row_changes.find(name); changes != row_changes.end()) {
      // Counters going back: the statistics were reset; the rate starts over.
      if (!t.samples.empty() && changes->second < t.samples.back().second) t.samples.clear();
      t.samples.emplace_back(now, changes->second);
      while (t.samples.size() > 2 && t.samples[1].first <= now - options_.rate_window)
        t.samples.pop_front();
    } else {
      t.samples.clear();
    }

    if (!t.fallen_back) {
      if (all_held(load)) {
        if (!t.held_since) t.held_since = now;
      } else {
        t.held_since.reset();
      }
      if (!t.held_since || now - *t.held_since < options_.hold) continue;
      auto r = rate(t, now);
      if (!r || *r <= 0 || load.subscribers == 0) continue;
      Switch s{name, true,
               rounded(*r) + " row changes/s for " + std::to_string(load.subscribers) +
                   " subscribers: every event cohort reading it was held at the poll interval "
                   "for " +
                   seconds(now - *t.held_since) +
                   ", so it is polled and left out of the replication stream until its writes "
                   "slow down",
               !restart_allowed(restart_bytes)};
      if (!s.postponed) {
        t.fallen_back = true;
        t.since = now;
        t.rate_per_subscriber = *r / static_cast<double>(load.subscribers);
        // Back soon after its last rejoin (within twice that dwell): the load sits at the
        // boundary, so it stays longer this time.
        const bool soon = t.rejoined_at && now - *t.rejoined_at < 2 * t.dwell;
        t.dwell = soon ? std::min(2 * t.dwell, options_.max_dwell) : options_.dwell;
        t.reason = s.reason;
        t.held_since.reset();
      }
      out.push_back(std::move(s));
      continue;
    }

    if (now - t.since < t.dwell) continue;
    std::string why;
    if (load.subscribers == 0) {
      why = "no subscriber reads it";
    } else if (auto r = rate(t, now)) {
      const double per = *r / static_cast<double>(load.subscribers);
      if (per < options_.rejoin_fraction * t.rate_per_subscriber) {
        why = rounded(*r) + " row changes/s for " + std::to_string(load.subscribers) +
              " subscribers, under " + rounded(options_.rejoin_fraction * 100) +
              " % of the rate per subscriber it fell back at";
      }
    }
    if (why.empty()) continue;
    Switch s{name, false, std::move(why), !restart_allowed(restart_bytes)};
    if (!s.postponed) {
      t.fallen_back = false;
      t.rejoined_at = now;
      t.reason.clear();
      t.samples.clear();
      t.held_since.reset();
    }
    out.push_back(std::move(s));
  }

  // Forget tables with nothing to remember: not held, not in fallback, and no recent rejoin
  // whose dwell a quick return would double.
  std::erase_if(tables_, [&](const auto& entry) {
    const Table& t = entry.second;
    return !t.fallen_back && !t.held_since && t.samples.empty() &&
           (!t.rejoined_at || now - *t.rejoined_at >= 2 * t.dwell);
  });
  return out;
}

bool WriteFallback::in_fallback(const std::string& table) const {
  auto it = tables_.find(table);
  return it != tables_.end() && it->second.fallen_back;
}

std::size_t WriteFallback::tables_in_fallback() const {
  return static_cast<std::size_t>(std::count_if(
      tables_.begin(), tables_.end(), [](const auto& t) { return t.second.fallen_back; }));
}

const std::string& WriteFallback::reason(const std::string& table) const {
  static const std::string none;
  auto it = tables_.find(table);
  return it == tables_.end() ? none : it->second.reason;
}

}  // namespace liveql::live

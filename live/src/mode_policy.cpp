#include "mode_policy.hpp"

#include <vector>

#include "liveql/compiler/dependencies.hpp"

namespace liveql::live {

ModeDecision decide_mode(const ModeInputs& in) {
  auto poll = [](std::string why) { return ModeDecision{LiveMode::kPoll, std::move(why), {}}; };
  if (!in.deps) return poll("dependencies unknown");
  if (!in.broken_reason.empty()) return poll(std::string(in.broken_reason));
  if (!in.event_available) return poll(std::string(in.event_unavailable_reason));

  ModeDecision out{LiveMode::kEvent, "event", {}};
  std::vector<std::string> forced_reasons;
  std::string fallback_table;
  for (const auto& t : in.deps->tables) {
    LiveQueries::TableLive info =
        in.table_modes && *in.table_modes ? (*in.table_modes)(t.table) : LiveQueries::TableLive{};
    if (info.mode.value_or(in.default_mode) == LiveMode::kPoll)
      return poll("table " + t.table_key + " is in poll mode");
    if (info.write_fallback) {  // polled, unless another table makes it poll for good
      if (fallback_table.empty()) fallback_table = t.table_key;
      continue;
    }
    // Rows of a filter-only table never enter the result (their changes are found by the
    // predicate and link keys): they need no key. Relationship-filter dependencies do not even
    // know the related table's key.
    if (t.role != deps::TableRole::kFilterOnly && t.primary_key.empty() &&
        !info.replica_identity_full) {
      return poll("table " + t.table_key + " has no primary key");
    }
    if (t.tractable) continue;
    if (info.mode != LiveMode::kEvent) {  // not forced to event by metadata or override
      return poll(t.reason.empty() ? "not tractable on " + t.table_key : t.reason);
    }
    if (out.forced_tables.insert(t.table_key).second) {
      forced_reasons.push_back(t.table_key + " (" + t.reason + ")");
    }
  }
  if (!fallback_table.empty()) {
    ModeDecision d = poll("table " + fallback_table +
                          " is polled for its write rate (GET /v1/live/tables says why)");
    d.write_fallback = true;
    return d;
  }
  if (!out.forced_tables.empty()) {
    out.reason = "event forced by live_mode on";
    for (const auto& r : forced_reasons) out.reason += " " + r;
    out.reason += ": any change to it refetches the whole cohort";
  }
  return out;
}

}  // namespace liveql::live

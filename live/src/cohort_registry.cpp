// Cohorts and subscribers coming and going, and each cohort's mode (live_core.hpp).
#include "live_core.hpp"

namespace liveql::live {

void LiveQueries::Impl::maybe_delete_cohort(const std::shared_ptr<Cohort>& c) {
  if (c->dead || !c->all.empty()) return;
  c->dead = true;
  if (c->timer) c->timer->cancel();
  if (c->window_timer) c->window_timer->cancel();
  for (const auto& t : c->tables) {
    auto it = cohorts_by_table.find(t);
    if (it == cohorts_by_table.end()) continue;
    it->second.erase(c.get());
    if (it->second.empty()) cohorts_by_table.erase(it);
  }
  if (c->deps && c->deps->row_result) --row_result_cohorts;
  cohorts.erase(c->key());
  update_gauges();
}

void LiveQueries::Impl::remove(SubscriberId id, std::optional<Error> error) {
  auto it = subscribers.find(id);
  if (it == subscribers.end()) return;
  Subscriber s = std::move(it->second);
  subscribers.erase(it);
  matcher->remove(id);
  // A queue entry of a waiting subscriber is skipped when reached.
  if (s.round && s.cohort) leave_round(*s.cohort, s.round);
  if (s.statement && s.statement->serves.erase(id) > 0 && s.statement->serves.empty()) {
    s.statement->signal.emit(asio::cancellation_type::terminal);
  }
  if (s.cohort) {
    s.cohort->all.erase(id);
    if (s.joined) {
      auto g = s.cohort->groups.find(s.vars);
      if (g != s.cohort->groups.end()) {
        g->second.erase(id);
        if (g->second.empty()) s.cohort->groups.erase(g);
      }
      --s.cohort->members;
    }
    maybe_delete_cohort(s.cohort);
  }
  update_gauges();
  if (error) deliver(s, std::move(*error));
}

void LiveQueries::Impl::evaluate_mode(const std::shared_ptr<Cohort>& c) {
  if (c->dead) return;
  ModeDecision d = decide_mode({.deps = c->deps.get(),
                                .broken_reason = c->broken_reason,
                                .event_available = event_available,
                                .event_unavailable_reason = event_unavailable_reason,
                                .default_mode = options.live_mode_default,
                                .table_modes = &table_modes});
  c->forced_tables = std::move(d.forced_tables);
  c->mode_reason = std::move(d.reason);
  c->fallback_poll = d.write_fallback;  // a running poll loop takes its period from the next tick
  if (c->mode == d.mode) return;
  c->mode = d.mode;
  if (d.mode == LiveMode::kPoll) {
    start_poll(c);
    return;
  }
  if (c->timer) c->timer->cancel();
  // Changes while polling were not matched: one refetch brings every member up to date.
  request_members(*c, false);
}

void LiveQueries::Impl::evaluate_all_modes() {
  std::vector<std::shared_ptr<Cohort>> list;
  for (const auto& [key, c] : cohorts) list.push_back(c);
  for (const auto& c : list) evaluate_mode(c);
}

}  // namespace liveql::live

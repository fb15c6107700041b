#include "liveql/live/live_queries.hpp"

#include "live_core.hpp"

namespace liveql::live {

void LiveQueries::Impl::deliver(Subscriber& s, Result<ResultText> r) {
  bool error = !r.ok();
  if (error) metrics.inc("liveql_errors_total");
  auto push = error ? std::move(s.push) : s.push;
  try {
    if (push) push(std::move(r));
  } catch (const std::exception& e) {
    metrics.inc("liveql_errors_total");
    spdlog::error("live: push for subscriber {} threw: {}", s.id, e.what());
  }
}

void LiveQueries::Impl::deliver_all(std::vector<std::pair<SubscriberId, ResultText>>& pushes,
                                    const std::vector<double>& latencies) {
  if (!latencies.empty()) metrics.observe("liveql_commit_to_push_seconds", latencies);
  std::size_t delivered = 0;
  for (auto& [sid, data] : pushes) {
    auto it = subscribers.find(sid);  // a push may unsubscribe anyone: looked up again
    if (it == subscribers.end()) continue;
    deliver(it->second, std::move(data));
    ++delivered;
  }
  if (delivered > 0) metrics.inc("liveql_pushes_total", static_cast<double>(delivered));
}

bool LiveQueries::Impl::any_event_cohort_reads(const std::set<std::string>& tables) const {
  for (const auto& table : tables) {
    auto it = cohorts_by_table.find(table);
    if (it == cohorts_by_table.end()) continue;
    for (const Cohort* c : it->second) {
      if (c->mode == LiveMode::kEvent) return true;
    }
  }
  return false;
}

LiveQueries::LiveQueries(asio::any_io_executor ex, PgPool& pool, Metrics& metrics, Options options)
    : impl_(std::make_shared<Impl>(std::move(ex), pool, metrics, options)) {
  metrics.register_gauge("liveql_subscribers", "Live-query subscribers registered.");
  metrics.register_gauge("liveql_cohorts", "Live-query cohorts (role + SQL shape).");
  metrics.register_counter("liveql_refetches_total",
                           "Cohort catch-ups completed (refetch until nothing runs or waits).");
  metrics.register_counter("liveql_refetch_statements_total",
                           "SQL statements run for live queries (first fetches included).");
  metrics.register_histogram("liveql_refetch_duration_seconds",
                             "Duration of one live-query statement (refetch or first fetch).");
  metrics.register_counter("liveql_pushes_total", "Changed results pushed to subscribers.");
  metrics.register_counter("liveql_visibility_retries_total",
                           "Refetch statements run again because their snapshot did not see "
                           "every transaction they were run for yet.");
  metrics.register_counter("liveql_visibility_retries_exhausted_total",
                           "Refetches whose snapshot never saw their transaction (fetched again).");
  metrics.register_histogram(
      "liveql_commit_to_push_seconds",
      "Event mode: from a commit's decoding to the push of a result it changed (handed to the "
      "subscriber's session; per pushed result, from the oldest commit it answers).",
      {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
  metrics.register_counter("liveql_errors_total", "Errors pushed to subscribers or logged.");
  impl_->update_gauges();
}

LiveQueries::~LiveQueries() { stop(); }

SubscriberId LiveQueries::subscribe_static(std::string data, Push push) {
  auto& impl = *impl_;
  SubscriberId id = impl.next_subscriber++;
  Subscriber s;
  s.id = id;
  s.push = std::move(push);
  impl.subscribers.emplace(id, std::move(s));
  impl.update_gauges();
  asio::post(impl.ex, [self = impl_, id, data = std::move(data)]() mutable {
    auto it = self->subscribers.find(id);
    if (self->stopped || it == self->subscribers.end() || it->second.has_result) return;
    it->second.has_result = true;
    self->metrics.inc("liveql_pushes_total");
    self->deliver(it->second, std::make_shared<const std::string>(std::move(data)));
  });
  return id;
}

SubscriberId LiveQueries::subscribe_sql(std::string sql, const std::string& role,
                                        std::string root_field, const boost::json::object& vars,
                                        Push push) {
  return subscribe_tracked(std::move(sql), role, std::move(root_field), vars, std::move(push),
                           nullptr);
}

SubscriberId LiveQueries::subscribe_tracked(
    std::string sql, const std::string& role, std::string root_field,
    const boost::json::object& vars, Push push,
    const std::function<std::shared_ptr<const deps::Dependencies>()>& dependencies) {
  auto& impl = *impl_;
  SubscriberId id = impl.next_subscriber++;
  std::string key = role + '\0' + sql;
  auto& c = impl.cohorts[key];
  if (!c) {
    c = std::make_shared<Cohort>();
    c->budget.emplace(impl.options.refetch_interval, impl.max_window,
                      statement_capacity(SIZE_MAX, impl.options.batch_size));
    c->id = impl.next_cohort++;
    c->role = role;
    c->takes_xid = sql.find("$3") != std::string::npos;
    c->sql = std::move(sql);
    c->root_field = std::move(root_field);
    if (dependencies) c->deps = dependencies();
    if (c->deps) {
      for (const auto& t : c->deps->tables) c->tables.insert(t.table_key);
      for (const auto& t : c->tables) impl.cohorts_by_table[t].insert(c.get());
      if (c->deps->row_result) ++impl.row_result_cohorts;
    }
    impl.evaluate_mode(c);
  }
  auto cohort = c;  // `c` refers into the map, which subscribers of other cohorts may change
  cohort->all.insert(id);
  if (cohort->deps) {
    // Rule 2: registered before the first fetch, so no commit after its snapshot is missed.
    auto added = impl.matcher->add(id, cohort->deps, vars);
    if (!added.ok())
      spdlog::error("live: matcher refused subscriber {}: {}", id, added.error().message);
  }
  Subscriber s;
  s.id = id;
  s.cohort = cohort;
  s.vars = boost::json::serialize(vars);
  if (cohort->deps && cohort->deps->row_result)
    s.row_key = deps::row_result_key(*cohort->deps->row_result, vars);
  s.push = std::move(push);
  auto& stored = impl.subscribers.emplace(id, std::move(s)).first->second;
  impl.update_gauges();
  if (impl.stopped) return id;
  impl.request(stored, std::nullopt);  // the first fetch: batched with other new subscribers
  return id;
}

SubscriberId LiveQueries::subscribe_stream(
    std::string sql, const std::string& role, std::string root_field,
    const boost::json::object& vars, std::string cursor_key, Push push,
    const std::function<std::shared_ptr<const deps::Dependencies>()>& dependencies) {
  SubscriberId id = subscribe_tracked(std::move(sql), role, std::move(root_field), vars,
                                      std::move(push), dependencies);
  // The first fetch is only queued (its pump is posted): the cohort is marked before any of its
  // rows is applied. A stream statement's text never equals a live query's (its extra columns).
  auto it = impl_->subscribers.find(id);
  if (it != impl_->subscribers.end() && it->second.cohort)
    it->second.cohort->stream_cursor_key = std::move(cursor_key);
  return id;
}

void LiveQueries::unsubscribe(SubscriberId id) { impl_->remove(id, std::nullopt); }

void LiveQueries::refetch(const std::vector<SubscriberId>& ids, std::optional<std::uint64_t> xid8) {
  if (impl_->stopped) return;
  impl_->request_ids(ids, xid8);
}

std::size_t LiveQueries::on_commit(Transaction txn, std::optional<std::uint64_t> xid8) {
  auto& impl = *impl_;
  if (impl.stopped || !impl.event_available) return 0;
  std::set<std::string> touched;
  for (const auto& change : txn.changes) touched.insert(change.schema + "." + change.table);
  // Only event cohorts act on a commit: one that touches only tables read by poll cohorts (or
  // by none) is not matched at all, so poll tables cost no matching per row change. Their
  // subscribers stay registered in the matcher for a switch to event.
  if (!impl.any_event_cohort_reads(touched)) return 0;
  std::vector<SubscriberId> affected = impl.matcher->affected(txn);
  std::vector<SubscriberId> ids;
  for (SubscriberId id : affected) {
    auto it = impl.subscribers.find(id);
    if (it == impl.subscribers.end() || !it->second.cohort) continue;
    if (it->second.cohort->mode == LiveMode::kEvent) ids.push_back(id);
  }
  for (const auto& table : touched) {
    auto it = impl.cohorts_by_table.find(table);
    if (it == impl.cohorts_by_table.end()) continue;
    for (const Cohort* c : it->second) {
      if (c->mode == LiveMode::kEvent && c->forced_tables.count(table) > 0) {
        ids.insert(ids.end(), c->all.begin(), c->all.end());
      }
    }
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  const std::size_t named = ids.size();
  const auto decoded = Clock::now();
  if (impl.row_result_cohorts > 0) impl.write_from_images(txn, ids, xid8, decoded);
  // Kept for the fetches pending now: their new keys may make it relevant (in-flight rule). The
  // requests below start waiting after it, so it is not matched again for them.
  if (impl.log_needed()) {
    impl.log.push_back({std::make_shared<const Transaction>(std::move(txn)), xid8, touched,
                        std::move(affected), impl.keys_epoch});
  }
  impl.request_ids(ids, xid8, decoded);
  return named;
}

void LiveQueries::refetch_all() {
  if (impl_->stopped) return;
  std::vector<SubscriberId> ids;
  for (const auto& [id, s] : impl_->subscribers) {
    if (s.cohort) ids.push_back(id);
  }
  impl_->request_ids(ids, std::nullopt);
}

void LiveQueries::set_table_modes(TableModes modes) {
  impl_->table_modes = std::move(modes);
  if (!impl_->stopped) impl_->evaluate_all_modes();
}

void LiveQueries::set_event_source(bool available, std::string reason) {
  impl_->event_available = available;
  impl_->event_unavailable_reason = available ? "" : std::move(reason);
  if (!impl_->stopped) impl_->evaluate_all_modes();
}

bool LiveQueries::event_source_available() const { return impl_->event_available; }
void LiveQueries::set_image_time_zone(std::string zone) { impl_->image_zone = std::move(zone); }
LiveMode LiveQueries::default_mode() const { return impl_->options.live_mode_default; }

void LiveQueries::set_mode(SubscriberId id, LiveMode mode, std::string reason) {
  auto it = impl_->subscribers.find(id);
  if (it == impl_->subscribers.end() || !it->second.cohort) return;
  auto c = it->second.cohort;
  c->mode_reason = std::move(reason);
  c->fallback_poll = false;
  if (c->mode == mode) return;
  c->mode = mode;
  if (mode == LiveMode::kEvent) {
    if (c->timer) c->timer->cancel();
  } else {
    impl_->start_poll(c);
  }
}

std::map<std::string, LiveQueries::TableLoad> LiveQueries::table_loads() const {
  std::map<std::string, TableLoad> out;
  for (const auto& [table, cohorts] : impl_->cohorts_by_table) {
    TableLoad load;
    for (const Cohort* c : cohorts) {
      if (c->dead || c->members == 0) continue;
      load.subscribers += c->members;
      if (c->mode != LiveMode::kEvent) continue;
      ++load.event_cohorts;
      if (c->budget->held()) ++load.held_cohorts;
    }
    if (load.subscribers > 0) out.emplace(table, load);
  }
  return out;
}

const std::string* LiveQueries::last_keys(SubscriberId id) const {
  auto it = impl_->subscribers.find(id);
  if (it == impl_->subscribers.end() || !it->second.has_result) return nullptr;
  return &it->second.keys;
}

std::size_t LiveQueries::subscriber_count() const { return impl_->subscribers.size(); }
std::size_t LiveQueries::cohort_count() const { return impl_->cohorts.size(); }

LiveQueries::CohortPreview LiveQueries::preview(const std::string& sql, const std::string& role,
                                                const deps::Dependencies* deps) const {
  const auto& impl = *impl_;
  CohortPreview out;
  if (auto it = impl.cohorts.find(role + '\0' + sql); it != impl.cohorts.end()) {
    const Cohort& c = *it->second;
    out.cohort = c.id;
    out.subscribers = c.members;
    out.mode = c.mode;
    out.reason = c.mode_reason;
    out.forced_tables.assign(c.forced_tables.begin(), c.forced_tables.end());
    return out;
  }
  ModeDecision d = decide_mode({.deps = deps,
                                .event_available = impl.event_available,
                                .event_unavailable_reason = impl.event_unavailable_reason,
                                .default_mode = impl.options.live_mode_default,
                                .table_modes = &impl.table_modes});
  out.mode = d.mode;
  out.reason = std::move(d.reason);
  out.forced_tables.assign(d.forced_tables.begin(), d.forced_tables.end());
  return out;
}

boost::json::value LiveQueries::cohorts_json() const {
  std::vector<const Cohort*> list;
  for (const auto& [key, c] : impl_->cohorts) list.push_back(c.get());
  std::sort(list.begin(), list.end(), [](auto* a, auto* b) { return a->id < b->id; });
  boost::json::array out;
  for (const Cohort* c : list) {
    double p99 = 0;
    if (!c->durations.empty()) {
      std::vector<double> d = c->durations;
      std::size_t k = (d.size() * 99 + 99) / 100 - 1;
      std::nth_element(d.begin(), d.begin() + k, d.end());
      p99 = d[k];
    }
    out.push_back(boost::json::object{
        {"id", c->id},
        {"kind", c->stream_cursor_key.empty() ? "live" : "stream"},
        {"role", c->role},
        {"root_field", c->root_field},
        {"mode", live_mode_name(c->mode)},
        {"mode_reason", c->mode_reason},
        {"poll_period_ms",
         c->mode == LiveMode::kPoll
             ? boost::json::value(
                   std::chrono::duration<double, std::milli>(impl_->poll_period(*c)).count())
             : boost::json::value(nullptr)},
        {"subscribers", c->members},
        {"distinct_variables", c->groups.size()},
        {"refetches", c->refetches},
        {"statements", c->statements},
        {"row_images", c->row_images},
        {"last_refetch_ms", c->last_refetch_ms},
        {"p99_refetch_ms", p99},
        {"throttled", c->budget->throttled()},
        {"window_cap_ms", std::chrono::duration<double, std::milli>(c->budget->cap()).count()},
        {"tables", boost::json::value_from(c->tables)},
    });
  }
  return out;
}

void LiveQueries::stop() {
  auto& impl = *impl_;
  if (impl.stopped) return;
  impl.stopped = true;
  for (auto& [key, c] : impl.cohorts) {
    c->dead = true;
    if (c->timer) c->timer->cancel();
    if (c->window_timer) c->window_timer->cancel();
  }
  if (impl.image_timer) impl.image_timer->cancel();
  impl.cohorts.clear();
  impl.cohorts_by_table.clear();
  impl.subscribers.clear();
  impl.log.clear();
  impl.matcher = std::make_unique<matcher::Matcher>();
  impl.update_gauges();
}

}  // namespace liveql::live

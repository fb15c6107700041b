// The fetch queue, batch windows, poll rounds and statements of the live core (live_core.hpp).
#include "live_core.hpp"

namespace liveql::live {

void LiveQueries::Impl::request(Subscriber& s, std::optional<std::uint64_t> xid,
                                std::optional<Clock::time_point> changed) {
  // A view of the one xid, not a vector: this runs per matched subscriber of every commit.
  request(s, xid ? std::span<const std::uint64_t>(&*xid, 1) : std::span<const std::uint64_t>(),
          changed);
}

void LiveQueries::Impl::request(Subscriber& s, std::span<const std::uint64_t> xids,
                                std::optional<Clock::time_point> changed) {
  if (!s.cohort || s.cohort->dead) return;
  if (s.written_xid) {  // the statement must see the commit that wrote its last result
    merge_xid(s.statement ? s.again_xids : s.xids, s.written_xid);
    s.written_xid.reset();
  }
  if (s.statement) {
    s.again = true;
    merge_xids(s.again_xids, xids);
    if (!s.again_changed_at) s.again_changed_at = changed;
    return;
  }
  merge_xids(s.xids, xids);
  if (!s.changed_at) s.changed_at = changed;
  if (s.waiting) return;
  s.waiting = true;
  Cohort& c = *s.cohort;
  if (!c.open_round) c.open_round = std::make_shared<Round>();
  if (!s.round) {
    s.round = c.open_round;
    ++s.round->remaining;
    if (s.joined) s.round->refetch = true;
  }
  (s.joined ? s.cohort->waiting : s.cohort->waiting_first).push_back(s.id);
  schedule_pump(s.cohort);
}

void LiveQueries::Impl::request_ids(const std::vector<SubscriberId>& ids,
                                    std::optional<std::uint64_t> xid,
                                    std::optional<Clock::time_point> changed) {
  const bool commit = xid || changed;
  for (SubscriberId id : ids) {
    auto it = subscribers.find(id);
    if (it == subscribers.end()) continue;
    Subscriber& s = it->second;
    // What a commit asks for counts against the event budget, pending or not (once: a
    // statement's `again` replays it).
    if (commit && s.joined && s.cohort) s.cohort->budget->demanded(1);
    request(s, xid, changed);
  }
}

void LiveQueries::Impl::request_members(Cohort& c, bool only_idle) {
  for (const auto& [vars, members] : c.groups) {
    for (SubscriberId id : members) {
      auto& s = subscribers.at(id);
      if (only_idle && (s.waiting || s.statement)) continue;
      request(s, std::nullopt);
    }
  }
}

void LiveQueries::Impl::schedule_pump(const std::shared_ptr<Cohort>& c) {
  if (c->pump_posted) return;
  c->pump_posted = true;
  asio::post(ex, [self = shared_from_this(), c] {
    c->pump_posted = false;
    self->pump(c);
  });
}

void LiveQueries::Impl::prune(std::deque<SubscriberId>& queue) {
  while (!queue.empty()) {
    auto it = subscribers.find(queue.front());
    if (it != subscribers.end() && it->second.waiting) return;
    queue.pop_front();
  }
}

void LiveQueries::Impl::pump(const std::shared_ptr<Cohort>& c) {
  c->open_round.reset();  // requests from now on are the next refetch
  if (stopped || c->dead) return;
  while (c->running < max_parallel) {
    prune(c->waiting_first);
    prune(c->waiting);
    bool first = !c->waiting_first.empty();
    auto& queue = first ? c->waiting_first : c->waiting;
    if (queue.empty()) break;
    // Adaptive batching: a partial statement waits for the running ones to return; the
    // requests arriving meanwhile join it.
    if (c->running > 0 && queue.size() < options.batch_size) break;
    // Under load (requests arrived while the last statement ran) a partial statement also
    // waits out the batch window, a few times the last statement's duration: fewer, fuller
    // statements. Idle cohorts have no window: the first request starts at once.
    // A throttled cohort (its event refetches cost more than polling would) holds full
    // statements too.
    const auto now = Clock::now();
    if (!first && c->mode == LiveMode::kEvent && c->budget->throttled() &&
        now < c->throttle_until) {
      arm_window(c, c->throttle_until);
      break;
    }
    if (queue.size() < options.batch_size && now < c->window_until) {
      arm_window(c, c->window_until);
      break;
    }
    // Event refetches take the whole queue, up to kMaxStatementGrowth × batch_size; poll
    // rounds and first fetches keep batch_size (Hasura's multiplexed batch size, the poll
    // baseline).
    std::size_t capacity = !first && c->mode == LiveMode::kEvent
                               ? statement_capacity(queue.size(), options.batch_size)
                               : options.batch_size;
    start_statement(c, take(queue, capacity), first);
  }
}

void LiveQueries::Impl::arm_window(const std::shared_ptr<Cohort>& c, Clock::time_point when) {
  if (c->window_armed && c->window_timer->expiry() <= when) return;
  c->window_armed = true;
  if (!c->window_timer) c->window_timer = std::make_unique<asio::steady_timer>(ex);
  c->window_timer->expires_at(when);
  c->window_timer->async_wait([self = shared_from_this(), c](boost::system::error_code ec) {
    if (ec == asio::error::operation_aborted && !c->dead && !self->stopped) return;
    c->window_armed = false;
    self->pump(c);
  });
}

LiveQueries::Impl::Taken LiveQueries::Impl::take(std::deque<SubscriberId>& queue,
                                                 std::size_t capacity) {
  Taken t;
  t.statement = std::make_shared<RunningStatement>();
  std::unordered_map<std::string_view, std::size_t> row_of;
  while (!queue.empty()) {
    auto it = subscribers.find(queue.front());
    if (it == subscribers.end() || !it->second.waiting) {
      queue.pop_front();
      continue;
    }
    Subscriber& s = it->second;
    auto row = row_of.find(s.vars);
    if (row == row_of.end()) {
      if (t.batch.vars.size() >= capacity) break;
      row = row_of.emplace(s.vars, t.batch.vars.size()).first;
      t.batch.vars.push_back(s.vars);
      t.batch.members.emplace_back();
    }
    t.batch.members[row->second].push_back(s.id);
    queue.pop_front();
    s.waiting = false;
    merge_xids(t.xids, s.xids);
    s.xids.clear();
    s.statement = t.statement;
    t.statement->serves.insert(s.id);
  }
  return t;
}

void LiveQueries::Impl::start_statement(const std::shared_ptr<Cohort>& c, Taken t, bool first) {
  if (t.batch.vars.empty()) return;
  ++c->running;
  // (One shared object as the coroutine's parameter: GCC 12 mishandles aggregates holding
  // shared_ptrs passed by value into coroutine frames.)
  spawn(run_batch(shared_from_this(), c, std::make_shared<Taken>(std::move(t)), first), "refetch");
}

void LiveQueries::Impl::leave_round(Cohort& c, std::shared_ptr<Round>& round) {
  auto r = std::move(round);
  if (!r || r->remaining == 0 || --r->remaining > 0 || !r->refetch) return;
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - r->started).count();
  ++c.refetches;
  c.last_refetch_ms = ms;
  if (c.durations.size() < kDurationWindow) {
    c.durations.push_back(ms);
  } else {
    c.durations[c.durations_next] = ms;
    c.durations_next = (c.durations_next + 1) % kDurationWindow;
  }
  metrics.inc("liveql_refetches_total");
}

void LiveQueries::Impl::start_poll(const std::shared_ptr<Cohort>& c) {
  if (c->dead || c->mode != LiveMode::kPoll || c->poll_running || c->members == 0) return;
  c->poll_running = true;
  if (!c->timer) c->timer = std::make_unique<asio::steady_timer>(ex);
  spawn(poll_loop(shared_from_this(), c), "poll loop");
}

asio::awaitable<void> LiveQueries::Impl::poll_loop(std::shared_ptr<Impl> self,
                                                   std::shared_ptr<Cohort> c) {
  // The period is read each tick: a cohort's write-rate fallback may start or end meanwhile.
  auto next = Clock::now() + self->poll_period(*c);
  while (!self->stopped && !c->dead && c->mode == LiveMode::kPoll) {
    c->timer->expires_at(next);
    co_await c->timer->async_wait(kTuple);
    if (self->stopped || c->dead || c->mode != LiveMode::kPoll) break;
    if (!c->poll_round || c->poll_round->remaining == 0) {
      // Subscribers already waiting or fetching (a targeted refetch) are covered by it.
      self->request_members(*c, true);
      c->poll_round = c->open_round;
    }
    next += self->poll_period(*c);
    auto now = Clock::now();
    if (next <= now) next = now + self->poll_period(*c);
  }
  c->poll_running = false;
}

Batch LiveQueries::Impl::still_waiting(const Batch& batch,
                                       const RunningStatement& statement) const {
  Batch out;
  for (std::size_t i = 0; i < batch.vars.size(); ++i) {
    std::vector<SubscriberId> members;
    for (SubscriberId id : batch.members[i]) {
      if (statement.serves.count(id) > 0) members.push_back(id);
    }
    if (members.empty()) continue;
    out.vars.push_back(batch.vars[i]);
    out.members.push_back(std::move(members));
  }
  return out;
}

asio::awaitable<Result<QueryResult>> LiveQueries::Impl::run_statement(
    std::shared_ptr<Cohort> c, const std::vector<std::string>& vars, Xids xids, bool persist,
    std::shared_ptr<RunningStatement> statement) {
  StatementParams params = statement_params(vars, c->takes_xid, xids);
  // Poll rounds yield the pool to first fetches, event refetches and queries: they are bounded
  // by their interval anyway, and would otherwise delay everyone else's statements.
  QueryPriority priority =
      c->mode == LiveMode::kPoll && persist ? QueryPriority::kBackground : QueryPriority::kNormal;
  auto backoff = kLostBackoffInitial;
  int lost_attempts = 0;
  for (int attempt = 0;; ++attempt) {
    if (statement->serves.empty()) {
      co_return make_error(ErrorCode::kPostgresError, "the statement was cancelled");
    }
    ++c->statements;
    metrics.inc("liveql_refetch_statements_total");
    auto started = Clock::now();
    // A coroutine of its own, so that the statement's signal reaches PgPool::query's
    // cancellation slot (Result has no default value: the outcome comes back through `out`).
    std::optional<Result<QueryResult>> out;
    // Named, not a temporary in the co_await expression: GCC 12 destroys such temporaries
    // twice. The raw pointer is safe: `statement` outlives the query.
    std::function<void()> on_connection = [this, st = statement.get()] {
      if (st->sent) return;  // a re-run: the first snapshot is the earliest
      st->sent = true;
      st->log_start = log_end();
      log_readers.insert(st->log_start);
    };
    co_await asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          out.emplace(co_await pool.query(c->sql, params, priority, on_connection, true));
        },
        asio::bind_cancellation_slot(statement->signal.slot(), asio::use_awaitable));
    metrics.observe("liveql_refetch_duration_seconds",
                    std::chrono::duration<double>(Clock::now() - started).count());
    auto r = std::move(*out);
    if (!r.ok() && PgPool::connection_lost(r.error()) && !stopped && !c->dead &&
        !statement->serves.empty() && (persist || lost_attempts < kFirstFetchLostRetries)) {
      // The database went away (restart, terminated backend), not the statement: the result
      // is owed once it is back. Subscribers stay; the refetch is retried with backoff.
      if (lost_attempts++ == 0) {
        spdlog::warn("live: cohort {} lost its database connection, retrying: {}", c->id,
                     r.error().message);
      }
      asio::steady_timer t(ex, backoff);
      co_await t.async_wait(kTuple);
      backoff = std::min(backoff * 2, kLostBackoffMax);
      if (stopped || c->dead) co_return r;
      --attempt;  // not a visibility retry
      continue;
    }
    if (!r.ok() || xids.empty() || attempt >= options.visibility_retries) co_return r;
    if (StatementRows(*r).all_visible()) co_return r;
    metrics.inc("liveql_visibility_retries_total");
    asio::steady_timer t(ex, options.visibility_retry_delay);
    co_await t.async_wait(kTuple);
    if (stopped || c->dead) co_return r;
  }
}

asio::awaitable<void> LiveQueries::Impl::run_batch(std::shared_ptr<Impl> self,
                                                   std::shared_ptr<Cohort> c,
                                                   std::shared_ptr<Taken> t, bool first) {
  auto statement = t->statement;
  co_await self->serve(c, t->batch, t->xids, statement, first);
  if (self->stopped) co_return;
  self->release(c, t->batch, *t->statement, Clock::now() - t->started, first);
  // A cancellation emitted just before the statement finished reaches co_spawn's handler as a
  // call posted to `ex` that still reads the handler living in `statement->signal`: keep the
  // signal alive until that call has run (the queue is FIFO, so this runs after it).
  asio::post(self->ex, [statement = t->statement] {});
}

asio::awaitable<void> LiveQueries::Impl::serve(std::shared_ptr<Cohort> c, const Batch& planned,
                                               Xids xids,
                                               std::shared_ptr<RunningStatement> statement,
                                               bool first) {
  Batch batch = still_waiting(planned, *statement);
  if (batch.vars.empty() || c->dead) co_return;
  auto r = co_await run_statement(c, batch.vars, xids, !first, statement);
  if (stopped || c->dead) co_return;
  if (!r.ok() && !first && r.error().code != ErrorCode::kQueryTimeout &&
      !still_waiting(batch, *statement).vars.empty()) {
    spdlog::warn("live: cohort {} refetch failed, retrying: {}", c->id, r.error().message);
    batch = still_waiting(batch, *statement);  // row ids index the vars of the statement that ran
    r = co_await run_statement(c, batch.vars, xids, true, statement);
    if (stopped || c->dead) co_return;
  }
  if (r.ok()) {
    apply(c, batch, *r);
    if (!xids.empty() && !StatementRows(*r).all_visible()) refetch_unseen(*c, batch, *statement);
    co_return;
  }
  if (r.error().code == ErrorCode::kQueryTimeout) {
    // Re-running it (whole or split) would cost the timeout again, per vars: the statement's
    // own subscribers get the error, nobody else.
    spdlog::warn("live: cohort {} refetch: {}", c->id, r.error().message);
    for (const auto& members : batch.members) {
      for (SubscriberId sid : members) remove(sid, r.error());
    }
    co_return;
  }
  // Isolate the failure: one statement per distinct vars, so only the bad one errors.
  for (std::size_t i = 0; i < batch.vars.size(); ++i) {
    Batch one;
    one.vars.push_back(batch.vars[i]);
    one.members.push_back(batch.members[i]);
    Result<QueryResult> single = std::move(r);
    if (batch.vars.size() > 1) {
      one = still_waiting(one, *statement);
      if (one.vars.empty()) continue;
      single = co_await run_statement(c, one.vars, xids, !first, statement);
    }
    if (stopped || c->dead) co_return;
    if (single.ok()) {
      apply(c, one, *single);
      continue;
    }
    for (SubscriberId sid : one.members[0]) {
      if (statement->serves.count(sid) > 0) remove(sid, single.error());
    }
  }
}

void LiveQueries::Impl::refetch_unseen(Cohort& c, const Batch& batch,
                                       const RunningStatement& statement) {
  metrics.inc("liveql_visibility_retries_exhausted_total");
  spdlog::warn(
      "live: cohort {}: a refetch did not see its transaction after {} retries; "
      "fetching again",
      c.id, options.visibility_retries);
  for (const auto& members : batch.members) {
    for (SubscriberId id : members) {
      auto it = subscribers.find(id);
      if (it == subscribers.end() || it->second.statement.get() != &statement) continue;
      it->second.again = true;
    }
  }
}

void LiveQueries::Impl::apply(const std::shared_ptr<Cohort>& c, const Batch& batch,
                              const QueryResult& r) {
  for (const auto& members : batch.members) {
    for (SubscriberId sid : members) {
      auto it = subscribers.find(sid);
      if (it == subscribers.end() || it->second.joined) continue;
      Subscriber& s = it->second;
      s.joined = true;
      c->groups[s.vars].insert(sid);
      ++c->members;
    }
  }
  StatementRows rows(r);
  StreamColumns stream(r);
  std::vector<std::pair<SubscriberId, ResultText>> pushes;
  std::vector<double> latencies;  // commit → push, seconds, of the pushes caused by commits
  const auto now = Clock::now();
  for (std::size_t row = 0; row < rows.size(); ++row) {
    std::size_t index = rows.index(row, batch.members.size());
    if (index == 0) continue;
    std::string_view text = rows.data(row);
    if (!c->stream_cursor_key.empty()) {
      apply_stream(c, batch.members[index - 1], text, stream.cursor(row), stream.full(row), now,
                   pushes, latencies);
      continue;
    }
    std::uint64_t h = hash_text(text);
    auto keys = rows.keys(row);
    std::optional<Result<matcher::ResultKeys>> parsed;  // once per row, when a member needs it
    ResultText data;  // made once per row, when a member's result changed
    for (SubscriberId sid : batch.members[index - 1]) {
      auto it = subscribers.find(sid);
      if (it == subscribers.end()) continue;
      Subscriber& s = it->second;
      // Unchanged keys (the common case: a row's values change, not which rows) cost nothing:
      // re-indexing them retires matcher entries, and retired entries cost rebuilds.
      if (keys && *keys != s.keys) {
        s.keys.assign(*keys);
        if (c->deps) {
          if (!parsed) parsed.emplace(matcher::parse_result_keys(s.keys));
          if (parsed->ok()) {
            (void)matcher->set_result_keys(sid, parsed->value());  // unknown ids: nothing to do
            s.keys_epoch = ++keys_epoch;
          } else if (c->broken_reason.empty()) {
            metrics.inc("liveql_errors_total");
            spdlog::error("live: cohort {} result keys unreadable: {}", c->id,
                          parsed->error().message);
            c->broken_reason = "result keys unreadable: " + parsed->error().message;
          }
        }
      }
      auto changed = std::exchange(s.changed_at, std::nullopt);
      if (s.has_result && s.hash == h) continue;
      s.has_result = true;
      s.hash = h;
      s.image_pending.reset();  // older than this result: never pushed after it
      if (!data) data = std::make_shared<const std::string>(text);
      pushes.emplace_back(sid, data);
      if (changed) latencies.push_back(std::chrono::duration<double>(now - *changed).count());
    }
  }
  if (!c->broken_reason.empty() && c->mode == LiveMode::kEvent) evaluate_mode(c);
  deliver_all(pushes, latencies);
}

void LiveQueries::Impl::apply_stream(const std::shared_ptr<Cohort>& c,
                                     const std::vector<SubscriberId>& members,
                                     std::string_view text, std::optional<std::string_view> cursor,
                                     bool full, Clock::time_point now,
                                     std::vector<std::pair<SubscriberId, ResultText>>& pushes,
                                     std::vector<double>& latencies) {
  std::optional<Result<AdvancedVars>> next;  // the same for every member: once per row
  ResultText data;
  for (SubscriberId sid : members) {
    auto it = subscribers.find(sid);
    if (it == subscribers.end()) continue;
    Subscriber& s = it->second;
    auto changed = std::exchange(s.changed_at, std::nullopt);
    if (!cursor) continue;
    if (!next) next.emplace(advance_cursor(s.vars, c->stream_cursor_key, *cursor));
    if (!next->ok()) {
      metrics.inc("liveql_errors_total");
      spdlog::error("live: cohort {}: {}", c->id, next->error().message);
      return;
    }
    if (auto g = c->groups.find(s.vars); g != c->groups.end()) {
      g->second.erase(sid);
      if (g->second.empty()) c->groups.erase(g);
    }
    s.vars = next->value().text;
    c->groups[s.vars].insert(sid);
    if (c->deps) {
      matcher->remove(sid);
      if (auto added = matcher->add(sid, c->deps, next->value().vars); !added.ok())
        spdlog::error("live: matcher refused subscriber {}: {}", sid, added.error().message);
    }
    s.has_result = true;
    if (full) s.again = true;
    if (!data) data = std::make_shared<const std::string>(text);
    pushes.emplace_back(sid, data);
    if (changed) latencies.push_back(std::chrono::duration<double>(now - *changed).count());
  }
}

void LiveQueries::Impl::release(const std::shared_ptr<Cohort>& c, const Batch& batch,
                                RunningStatement& statement, Clock::duration took, bool first) {
  // Commits decoded since it was sent (its snapshot may predate them), matched against the new
  // keys. Commits before that were matched when they arrived, and its snapshot sees them.
  for (std::uint64_t pos = statement.sent ? std::max(statement.log_start, log_base) : log_end();
       pos < log_end(); ++pos) {
    LoggedCommit& commit = log[pos - log_base];
    bool relevant = false;
    for (const auto& t : c->tables) relevant = relevant || commit.tables.count(t) > 0;
    if (!relevant) continue;
    if (keys_changed_since(statement, commit.matched_at)) {
      commit.affected = matcher->affected(*commit.txn);
      commit.matched_at = keys_epoch;
    }
    auto mark = [&](SubscriberId id) {
      auto it = subscribers.find(id);
      if (it == subscribers.end()) return;
      it->second.again = true;
      merge_xid(it->second.again_xids, commit.xid);
    };
    // Whichever side is smaller drives the intersection.
    if (commit.affected.size() <= statement.serves.size()) {
      for (SubscriberId id : commit.affected)
        if (statement.serves.count(id) > 0) mark(id);
    } else {
      for (SubscriberId id : statement.serves)
        if (std::binary_search(commit.affected.begin(), commit.affected.end(), id)) mark(id);
    }
  }
  for (const auto& members : batch.members) {
    for (SubscriberId id : members) {
      auto it = subscribers.find(id);
      if (it == subscribers.end() || it->second.statement.get() != &statement) continue;
      Subscriber& s = it->second;
      s.statement.reset();
      leave_round(*c, s.round);
      if (s.again) {
        s.again = false;
        Xids xids = std::move(s.again_xids);
        s.again_xids.clear();
        request(s, xids, std::exchange(s.again_changed_at, std::nullopt));
      }
    }
  }
  if (statement.sent) {
    if (auto reader = log_readers.find(statement.log_start); reader != log_readers.end()) {
      log_readers.erase(reader);
    }
    trim_log();
  }
  if (c->running > 0) --c->running;
  prune(c->waiting_first);
  prune(c->waiting);
  const auto now = Clock::now();
  if (!first && c->mode == LiveMode::kEvent) {
    const bool was = c->budget->throttled();
    c->budget->returned(now, batch.vars.size(), c->members);
    // A period from the statement's start, as a poll round's timer keeps its period.
    if (c->budget->throttled())
      c->throttle_until = std::max(c->throttle_until, now - took + c->budget->cap());
    if (was != c->budget->throttled()) {
      spdlog::warn("live: cohort {} {} (event refetches against a poll round's cost)", c->id,
                   was ? "no longer throttled" : "throttled");
    }
  }
  if (!c->waiting.empty() || !c->waiting_first.empty()) {
    c->window_until = std::max(c->window_until, now + c->budget->window(took));
  }
  start_poll(c);  // a no-op unless it polls and has members (its first ones just joined)
  pump(c);
}

bool LiveQueries::Impl::keys_changed_since(const RunningStatement& statement,
                                           std::uint64_t epoch) const {
  if (keys_epoch == epoch) return false;
  for (SubscriberId id : statement.serves) {
    auto it = subscribers.find(id);
    if (it != subscribers.end() && it->second.keys_epoch > epoch) return true;
  }
  return false;
}

}  // namespace liveql::live

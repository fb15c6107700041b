#include "liveql/live/live_queries.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value_from.hpp>
#include <map>
#include <set>
#include <unordered_map>

#include "liveql/compiler/dependencies.hpp"
#include "liveql/live/metrics.hpp"
#include "liveql/live/pg_pool.hpp"
#include "liveql/matcher/matcher.hpp"
#include "liveql/matcher/result_keys.hpp"

namespace liveql::live {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kDurationWindow = 256;  // refetch durations kept per cohort for p99
// Statements whose database connection was lost are retried after these delays (doubling).
constexpr std::chrono::milliseconds kLostBackoffInitial{50};
constexpr std::chrono::milliseconds kLostBackoffMax{2000};
constexpr int kFirstFetchLostRetries = 6;  // about 3 s of backoff, then the error is pushed

std::uint64_t hash_text(std::string_view text) { return std::hash<std::string_view>{}(text); }

}  // namespace

struct Cohort {
  std::uint64_t id = 0;
  std::string role;
  std::string sql;
  std::string root_field;
  bool takes_xid = false;  // the SQL has a $3::xid8 parameter
  CohortMode mode = CohortMode::kPoll;
  std::string mode_reason = "default";
  // Joined subscribers grouped by their vars text: one statement row per group.
  std::map<std::string, std::set<SubscriberId>> groups;
  std::size_t members = 0;  // joined subscribers
  std::size_t pending = 0;  // subscribers whose first fetch is running
  bool dead = false;
  std::unique_ptr<asio::steady_timer> timer;
  bool poll_running = false;
  std::uint64_t refetches = 0;
  std::uint64_t statements = 0;
  double last_refetch_ms = 0;
  std::vector<double> durations;  // ring of the last kDurationWindow refetches, ms
  std::size_t durations_next = 0;
  // Event mode: the operation's dependencies (null: unknown, the cohort polls), the tables it
  // reads, those forced to event mode although intractable (any change marks the cohort).
  std::shared_ptr<const deps::Dependencies> deps;
  std::set<std::string> tables;
  std::set<std::string> forced_tables;
  std::string broken_reason;    // set when result keys could not be read: poll from then on
  std::set<SubscriberId> all;   // every subscriber, joined or not
  std::set<SubscriberId> busy;  // subscribers with a fetch in flight

  std::string key() const { return role + '\0' + sql; }
};

// A targeted refetch spawned but not started yet: requests arriving meanwhile merge into it
// (rule 7: several commits before the refetch starts cost one refetch).
struct ScheduledRefetch {
  std::optional<std::uint64_t> xid;
};

void merge_xid(std::optional<std::uint64_t>& into, std::optional<std::uint64_t> xid) {
  if (xid && (!into || *into < *xid)) into = xid;
}

// A statement in flight and the subscribers still waiting for its rows. When the last of them
// leaves, `signal` cancels it (PgPool::query's cancellation: PQcancel), so a statement nobody
// waits for stops costing the database; one that serves anybody runs to the end.
struct RunningStatement {
  asio::cancellation_signal signal;
  std::set<SubscriberId> serves;
};

struct Subscriber {
  SubscriberId id = 0;
  std::shared_ptr<Cohort> cohort;  // null for static data
  std::string vars;                // vars JSON text
  LiveQueries::Push push;
  bool joined = false;
  bool has_result = false;
  std::uint64_t hash = 0;
  std::string keys;
  bool in_flight = false;
  bool queued = false;
  std::optional<std::uint64_t> queued_xid;
  std::shared_ptr<ScheduledRefetch> scheduled;
  std::shared_ptr<RunningStatement> statement;  // the statement running for it, if any
};

// One statement's worth of work: distinct vars and, per vars, the subscribers to fan out to.
struct Batch {
  std::vector<std::string> vars;
  std::vector<std::vector<SubscriberId>> members;
};

struct LiveQueries::Impl : std::enable_shared_from_this<LiveQueries::Impl> {
  using ResultText = LiveQueries::ResultText;
  asio::any_io_executor ex;
  PgPool& pool;
  Metrics& metrics;
  Options options;
  bool stopped = false;
  SubscriberId next_subscriber = 1;
  std::uint64_t next_cohort = 1;
  std::unordered_map<SubscriberId, Subscriber> subscribers;
  std::unordered_map<std::string, std::shared_ptr<Cohort>> cohorts;
  std::unique_ptr<matcher::Matcher> matcher = std::make_unique<matcher::Matcher>();
  std::unordered_map<std::string, std::set<Cohort*>> cohorts_by_table;
  TableModes table_modes;
  bool event_available = false;
  std::string event_unavailable_reason = "replication not connected";

  Impl(asio::any_io_executor e, PgPool& p, Metrics& m, Options o)
      : ex(std::move(e)), pool(p), metrics(m), options(o) {
    if (options.batch_size == 0) options.batch_size = 1;
  }

  void update_gauges() {
    metrics.set("liveql_subscribers", static_cast<double>(subscribers.size()));
    metrics.set("liveql_cohorts", static_cast<double>(cohorts.size()));
  }

  // Starts a coroutine later, never inline: co_spawn dispatches, so on our own thread it would
  // run the coroutine up to its first suspension before returning, and a push could then reach
  // a caller still inside subscribe() (which has not recorded the id yet) or inside a loop
  // over its own subscriptions.
  template <class Awaitable>
  void spawn(Awaitable task, const char* what) {
    asio::post(ex, [self = shared_from_this(), task = std::move(task), what]() mutable {
      asio::co_spawn(self->ex, std::move(task), [self, what](std::exception_ptr e) {
        if (!e) return;
        self->metrics.inc("liveql_errors_total");
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          spdlog::error("live: {} failed: {}", what, ex.what());
        } catch (...) {
          spdlog::error("live: {} failed", what);
        }
      });
    });
  }

  // Calls a subscriber's push without letting its exceptions unwind our bookkeeping.
  void deliver(Subscriber& s, Result<ResultText> r) {
    bool error = !r.ok();
    metrics.inc(error ? "liveql_errors_total" : "liveql_pushes_total");
    auto push = error ? std::move(s.push) : s.push;
    try {
      if (push) push(std::move(r));
    } catch (const std::exception& e) {
      metrics.inc("liveql_errors_total");
      spdlog::error("live: push for subscriber {} threw: {}", s.id, e.what());
    }
  }

  void set_busy(Subscriber& s, bool busy) {
    s.in_flight = busy;
    if (!s.cohort) return;
    if (busy) {
      s.cohort->busy.insert(s.id);
    } else {
      s.cohort->busy.erase(s.id);
    }
  }

  void maybe_delete_cohort(const std::shared_ptr<Cohort>& c) {
    if (c->dead || c->members > 0 || c->pending > 0) return;
    c->dead = true;
    if (c->timer) c->timer->cancel();
    for (const auto& t : c->tables) {
      auto it = cohorts_by_table.find(t);
      if (it == cohorts_by_table.end()) continue;
      it->second.erase(c.get());
      if (it->second.empty()) cohorts_by_table.erase(it);
    }
    cohorts.erase(c->key());
    update_gauges();
  }

  // Removes a subscriber; with an error, pushes it first.
  void remove(SubscriberId id, std::optional<Error> error) {
    auto it = subscribers.find(id);
    if (it == subscribers.end()) return;
    Subscriber s = std::move(it->second);
    subscribers.erase(it);
    matcher->remove(id);
    if (s.statement && s.statement->serves.erase(id) > 0 && s.statement->serves.empty()) {
      s.statement->signal.emit(asio::cancellation_type::terminal);
    }
    if (s.cohort) {
      s.cohort->all.erase(id);
      s.cohort->busy.erase(id);
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

  void start_poll(const std::shared_ptr<Cohort>& c) {
    if (c->dead || c->mode != CohortMode::kPoll || c->poll_running) return;
    c->poll_running = true;
    if (!c->timer) c->timer = std::make_unique<asio::steady_timer>(ex);
    spawn(poll_loop(shared_from_this(), c), "poll loop");
  }

  static asio::awaitable<void> poll_loop(std::shared_ptr<Impl> self, std::shared_ptr<Cohort> c) {
    while (!self->stopped && !c->dead && c->mode == CohortMode::kPoll) {
      c->timer->expires_after(self->options.refetch_interval);
      co_await c->timer->async_wait(kTuple);
      if (self->stopped || c->dead || c->mode != CohortMode::kPoll) break;
      // Subscribers already in flight (a targeted refetch) are skipped, not queued.
      std::vector<SubscriberId> ids;
      for (const auto& [vars, members] : c->groups) {
        for (SubscriberId id : members) {
          auto& s = self->subscribers.at(id);
          if (s.in_flight) continue;
          self->set_busy(s, true);
          ids.push_back(id);
        }
      }
      // Runs inline: the next tick waits for this refetch, so a cohort never has two polls in
      // flight, while other cohorts' loops run independently.
      co_await self->refetch_cohort(c, std::move(ids), std::nullopt);
    }
    c->poll_running = false;
  }

  // Runs one statement for `vars` (ids are 1..n, indices into vars). Retries while the
  // transaction `xid` is not yet visible to the statement's snapshot.
  // A lost connection is retried with backoff: for as long as it takes with `persist` (refetches
  // of joined subscribers), a few times otherwise (a first fetch then fails with the error).
  // The subscribers of `batch` still registered (a vars group whose members all left is
  // dropped): rows nobody waits for are not computed.
  Batch still_waiting(const Batch& batch) const {
    Batch out;
    for (std::size_t i = 0; i < batch.vars.size(); ++i) {
      std::vector<SubscriberId> members;
      for (SubscriberId id : batch.members[i]) {
        if (subscribers.count(id) > 0) members.push_back(id);
      }
      if (members.empty()) continue;
      out.vars.push_back(batch.vars[i]);
      out.members.push_back(std::move(members));
    }
    return out;
  }

  // run_statement() for `batch`, cancelled as soon as none of its subscribers waits any more
  // (then the result is an error nobody receives).
  asio::awaitable<Result<QueryResult>> run_batch(std::shared_ptr<Cohort> c, const Batch& batch,
                                                 std::optional<std::uint64_t> xid,
                                                 bool persist = true) {
    auto self = shared_from_this();
    auto statement = std::make_shared<RunningStatement>();
    for (const auto& members : batch.members) {
      for (SubscriberId id : members) {
        auto it = subscribers.find(id);
        if (it == subscribers.end()) continue;
        it->second.statement = statement;
        statement->serves.insert(id);
      }
    }
    auto r = co_await run_statement(c, batch.vars, xid, persist, statement);
    for (SubscriberId id : statement->serves) {
      auto it = subscribers.find(id);
      if (it != subscribers.end() && it->second.statement == statement) {
        it->second.statement.reset();
      }
    }
    // A cancellation emitted just before the statement finished reaches co_spawn's handler as a
    // call posted to `ex` that still reads the handler living in `statement->signal`: keep the
    // signal alive until that call has run (the queue is FIFO, so this runs after it).
    asio::post(ex, [statement] {});
    co_return r;
  }

  asio::awaitable<Result<QueryResult>> run_statement(std::shared_ptr<Cohort> c,
                                                     const std::vector<std::string>& vars,
                                                     std::optional<std::uint64_t> xid, bool persist,
                                                     std::shared_ptr<RunningStatement> statement) {
    std::string ids = "{";
    for (std::size_t i = 0; i < vars.size(); ++i) {
      if (i > 0) ids += ',';
      ids += std::to_string(i + 1);
    }
    ids += '}';
    // A json[] literal: each element is the vars text, quoted as an array element.
    std::string vars_literal = "{";
    for (std::size_t i = 0; i < vars.size(); ++i) {
      if (i > 0) vars_literal += ',';
      vars_literal += '"';
      for (char ch : vars[i]) {
        if (ch == '"' || ch == '\\') vars_literal += '\\';
        vars_literal += ch;
      }
      vars_literal += '"';
    }
    vars_literal += '}';
    std::vector<std::optional<std::string>> params{ids, vars_literal};
    if (c->takes_xid) {
      params.emplace_back(xid ? std::optional<std::string>(std::to_string(*xid)) : std::nullopt);
    }
    auto backoff = kLostBackoffInitial;
    int lost_attempts = 0;
    for (int attempt = 0;; ++attempt) {
      if (statement->serves.empty()) {
        co_return make_error(ErrorCode::kPostgresError, "the statement was cancelled");
      }
      ++c->statements;
      metrics.inc("liveql_refetch_statements_total");
      // A coroutine of its own, so that the statement's signal reaches PgPool::query's
      // cancellation slot (Result has no default value: the outcome comes back through `out`).
      std::optional<Result<QueryResult>> out;
      co_await asio::co_spawn(
          ex, [&]() -> asio::awaitable<void> { out.emplace(co_await pool.query(c->sql, params)); },
          asio::bind_cancellation_slot(statement->signal.slot(), asio::use_awaitable));
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
      if (!r.ok() || !xid || attempt >= options.visibility_retries) co_return r;
      int vis = r->column_index("visible");
      bool visible = true;
      if (vis >= 0) {
        for (const auto& row : r->rows) {
          if (row[vis] && *row[vis] == "f") visible = false;
        }
      }
      if (visible) co_return r;
      asio::steady_timer t(ex, options.visibility_retry_delay);
      co_await t.async_wait(kTuple);
      if (stopped || c->dead) co_return r;
    }
  }

  // Applies a statement's rows: the changed ones are pushed to every member of their vars.
  void apply(const Batch& batch, const QueryResult& r) {
    int id_col = r.column_index("id");
    int data_col = r.column_index("data");
    int keys_col = r.column_index("keys");
    for (const auto& row : r.rows) {
      if (id_col < 0 || data_col < 0 || !row[id_col]) continue;
      std::size_t index = std::strtoull(row[id_col]->c_str(), nullptr, 10);
      if (index < 1 || index > batch.members.size()) continue;
      ResultText data;  // made once per row, when a member's result changed
      std::string_view text = row[data_col] ? std::string_view(*row[data_col]) : "null";
      std::uint64_t h = hash_text(text);
      std::optional<Result<matcher::ResultKeys>> parsed;  // once per row, when a member needs it
      for (SubscriberId sid : batch.members[index - 1]) {
        auto it = subscribers.find(sid);
        if (it == subscribers.end()) continue;
        Subscriber& s = it->second;
        if (keys_col >= 0) s.keys = row[keys_col] ? *row[keys_col] : "[]";
        if (keys_col >= 0 && s.cohort && s.cohort->deps) {
          if (!parsed) parsed.emplace(matcher::parse_result_keys(s.keys));
          if (parsed->ok()) {
            (void)matcher->set_result_keys(sid, parsed->value());  // unknown ids: nothing to do
          } else if (s.cohort->broken_reason.empty()) {
            metrics.inc("liveql_errors_total");
            spdlog::error("live: cohort {} result keys unreadable: {}", s.cohort->id,
                          parsed->error().message);
            s.cohort->broken_reason = "result keys unreadable: " + parsed->error().message;
            evaluate_mode(s.cohort);
          }
        }
        if (s.has_result && s.hash == h) continue;
        s.has_result = true;
        s.hash = h;
        if (!data) data = std::make_shared<const std::string>(text);
        deliver(s, data);  // may unsubscribe anyone: everything is looked up again
      }
    }
  }

  // Refetches these joined subscribers of `c`, already marked in_flight by the caller: one
  // statement per batch_size distinct vars.
  asio::awaitable<void> refetch_cohort(std::shared_ptr<Cohort> c, std::vector<SubscriberId> taken,
                                       std::optional<std::uint64_t> xid) {
    auto self = shared_from_this();
    std::map<std::string, std::vector<SubscriberId>> by_vars;
    for (SubscriberId id : taken) {
      auto it = subscribers.find(id);
      if (it != subscribers.end()) by_vars[it->second.vars].push_back(id);
    }
    if (taken.empty()) co_return;
    auto started = Clock::now();
    std::vector<Batch> batches;
    for (auto& [vars, members] : by_vars) {
      if (batches.empty() || batches.back().vars.size() >= options.batch_size)
        batches.emplace_back();
      batches.back().vars.push_back(vars);
      batches.back().members.push_back(std::move(members));
    }
    for (const Batch& planned : batches) {
      if (stopped || c->dead) break;
      Batch batch = still_waiting(planned);
      if (batch.vars.empty()) continue;
      auto r = co_await run_batch(c, batch, xid);
      if (!r.ok() && !stopped && !c->dead && r.error().code != ErrorCode::kQueryTimeout &&
          !still_waiting(batch).vars.empty()) {
        spdlog::warn("live: cohort {} refetch failed, retrying: {}", c->id, r.error().message);
        batch = still_waiting(batch);  // row ids index the vars of the statement that ran
        r = co_await run_batch(c, batch, xid);
      }
      if (stopped || c->dead) break;
      if (r.ok()) {
        apply(batch, *r);
        continue;
      }
      if (r.error().code == ErrorCode::kQueryTimeout) {
        // Re-running it (whole or split) would cost the timeout again, per vars: the
        // statement's own subscribers get the error, nobody else.
        spdlog::warn("live: cohort {} refetch: {}", c->id, r.error().message);
        for (const auto& members : batch.members) {
          for (SubscriberId sid : members) remove(sid, r.error());
        }
        continue;
      }
      // Isolate the failure: one statement per distinct vars, so only the bad one errors.
      for (std::size_t i = 0; i < batch.vars.size(); ++i) {
        Batch one;
        one.vars.push_back(batch.vars[i]);
        one.members.push_back(batch.members[i]);
        Result<QueryResult> single = std::move(r);
        if (batch.vars.size() > 1) {
          one = still_waiting(one);
          if (one.vars.empty()) continue;
          single = co_await run_batch(c, one, xid);
        }
        if (stopped || c->dead) break;
        if (single.ok()) {
          apply(one, *single);
          continue;
        }
        for (SubscriberId sid : one.members[0]) remove(sid, single.error());
      }
    }
    if (stopped) co_return;
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
    ++c->refetches;
    c->last_refetch_ms = ms;
    if (c->durations.size() < kDurationWindow) {
      c->durations.push_back(ms);
    } else {
      c->durations[c->durations_next] = ms;
      c->durations_next = (c->durations_next + 1) % kDurationWindow;
    }
    metrics.inc("liveql_refetches_total");
    metrics.observe("liveql_refetch_duration_seconds", ms / 1000.0);
    finish(taken);
  }

  // Clears in_flight and runs what was queued meanwhile.
  void finish(const std::vector<SubscriberId>& ids) {
    std::map<std::optional<std::uint64_t>, std::vector<SubscriberId>> again;
    for (SubscriberId id : ids) {
      auto it = subscribers.find(id);
      if (it == subscribers.end()) continue;
      Subscriber& s = it->second;
      set_busy(s, false);
      if (s.queued) {
        s.queued = false;
        again[s.queued_xid].push_back(id);
        s.queued_xid.reset();
      }
    }
    for (auto& [xid, group] : again) request_refetch(group, xid);
  }

  void request_refetch(const std::vector<SubscriberId>& ids, std::optional<std::uint64_t> xid) {
    std::map<std::shared_ptr<Cohort>, std::vector<SubscriberId>> by_cohort;
    std::map<Cohort*, std::shared_ptr<ScheduledRefetch>> scheduled;
    for (SubscriberId id : ids) {
      auto it = subscribers.find(id);
      if (it == subscribers.end() || !it->second.cohort) continue;
      Subscriber& s = it->second;
      if (s.scheduled) {
        // Spawned but not started: this request merges into it.
        merge_xid(s.scheduled->xid, xid);
        continue;
      }
      if (!s.joined || s.in_flight) {
        // The first fetch (or a refetch) is running: coalesce into one more afterwards.
        s.queued = true;
        merge_xid(s.queued_xid, xid);
        continue;
      }
      set_busy(s, true);
      auto& sched = scheduled[s.cohort.get()];
      if (!sched) sched = std::make_shared<ScheduledRefetch>(ScheduledRefetch{xid});
      s.scheduled = sched;
      by_cohort[s.cohort].push_back(id);
    }
    for (auto& [c, members] : by_cohort) {
      spawn(run_scheduled(shared_from_this(), c, std::move(members), scheduled[c.get()]),
            "refetch");
    }
  }

  static asio::awaitable<void> run_scheduled(std::shared_ptr<Impl> self, std::shared_ptr<Cohort> c,
                                             std::vector<SubscriberId> ids,
                                             std::shared_ptr<ScheduledRefetch> sched) {
    for (SubscriberId id : ids) {
      auto it = self->subscribers.find(id);
      if (it != self->subscribers.end() && it->second.scheduled == sched) {
        it->second.scheduled.reset();
      }
    }
    co_await self->refetch_cohort(c, std::move(ids), sched->xid);
  }

  // The mode a cohort should be in now, and why (see the header).
  void evaluate_mode(const std::shared_ptr<Cohort>& c) {
    if (c->dead) return;
    CohortMode mode = CohortMode::kEvent;
    std::string reason;
    std::set<std::string> forced;
    auto poll = [&](std::string why) {
      mode = CohortMode::kPoll;
      reason = std::move(why);
    };
    if (!c->deps) {
      poll("dependencies unknown");
    } else if (!c->broken_reason.empty()) {
      poll(c->broken_reason);
    } else if (!event_available) {
      poll(event_unavailable_reason);
    } else {
      std::vector<std::string> forced_reasons;
      for (const auto& t : c->deps->tables) {
        TableLive info = table_modes ? table_modes(t.table) : TableLive{};
        bool poll_table = info.mode == metadata::LiveMode::kPoll ||
                          (info.mode == metadata::LiveMode::kDefault &&
                           options.live_mode_default == CohortMode::kPoll);
        if (poll_table) {
          poll("table " + t.table_key + " is in poll mode");
          break;
        }
        // Rows of a filter-only table never enter the result (their changes are found by the
        // predicate and link keys): they need no key. Relationship-filter dependencies do not
        // even know the related table's key.
        if (t.role != deps::TableRole::kFilterOnly && t.primary_key.empty() &&
            !info.replica_identity_full) {
          poll("table " + t.table_key + " has no primary key");
          break;
        }
        if (t.tractable) continue;
        if (info.mode != metadata::LiveMode::kEvent) {
          poll(t.reason.empty() ? "not tractable on " + t.table_key : t.reason);
          break;
        }
        if (forced.insert(t.table_key).second) {
          forced_reasons.push_back(t.table_key + " (" + t.reason + ")");
        }
      }
      if (mode == CohortMode::kEvent) {
        if (forced.empty()) {
          reason = "event";
        } else {
          reason = "event forced by live_mode on";
          for (const auto& r : forced_reasons) reason += " " + r;
          reason += ": any change to it refetches the whole cohort";
        }
      }
    }
    c->forced_tables = mode == CohortMode::kEvent ? std::move(forced) : std::set<std::string>{};
    c->mode_reason = std::move(reason);
    if (c->mode == mode) return;
    c->mode = mode;
    if (mode == CohortMode::kPoll) {
      if (c->members > 0) start_poll(c);
      return;
    }
    if (c->timer) c->timer->cancel();
    // Changes while polling were not matched: one refetch brings every member up to date.
    std::vector<SubscriberId> members;
    for (const auto& [vars, ids] : c->groups) members.insert(members.end(), ids.begin(), ids.end());
    request_refetch(members, std::nullopt);
  }

  void evaluate_all_modes() {
    std::vector<std::shared_ptr<Cohort>> list;
    for (const auto& [key, c] : cohorts) list.push_back(c);
    for (const auto& c : list) evaluate_mode(c);
  }

  static asio::awaitable<void> first_fetch(std::shared_ptr<Impl> self, std::shared_ptr<Cohort> c,
                                           SubscriberId id) {
    auto it = self->subscribers.find(id);
    if (it == self->subscribers.end()) {  // unsubscribed before we started
      --c->pending;
      self->maybe_delete_cohort(c);
      co_return;
    }
    std::string vars = it->second.vars;
    auto started = Clock::now();
    std::vector<std::string> one_vars{vars};
    Batch first;
    first.vars = one_vars;
    first.members.push_back({id});
    auto r = co_await self->run_batch(c, first, std::nullopt, false);
    if (self->stopped) co_return;
    --c->pending;
    it = self->subscribers.find(id);
    if (it == self->subscribers.end()) {
      self->maybe_delete_cohort(c);
      co_return;
    }
    Subscriber& s = it->second;
    if (!r.ok()) {
      self->remove(id, r.error());
      co_return;
    }
    s.joined = true;
    c->groups[s.vars].insert(id);
    ++c->members;
    self->metrics.observe("liveql_refetch_duration_seconds",
                          std::chrono::duration<double>(Clock::now() - started).count());
    Batch one;
    one.vars.push_back(vars);
    one.members.push_back({id});
    self->apply(one, *r);
    self->finish({id});
    self->start_poll(c);
  }
};

LiveQueries::LiveQueries(asio::any_io_executor ex, PgPool& pool, Metrics& metrics, Options options)
    : impl_(std::make_shared<Impl>(std::move(ex), pool, metrics, options)) {
  metrics.register_gauge("liveql_subscribers", "Live-query subscribers registered.");
  metrics.register_gauge("liveql_cohorts", "Live-query cohorts (role + SQL shape).");
  metrics.register_counter("liveql_refetches_total", "Cohort refetches completed.");
  metrics.register_counter("liveql_refetch_statements_total",
                           "SQL statements run for live queries (first fetches included).");
  metrics.register_histogram("liveql_refetch_duration_seconds",
                             "Duration of one cohort refetch or first fetch.");
  metrics.register_counter("liveql_pushes_total", "Changed results pushed to subscribers.");
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
    c->id = impl.next_cohort++;
    c->role = role;
    c->takes_xid = sql.find("$3") != std::string::npos;
    c->sql = std::move(sql);
    c->root_field = std::move(root_field);
    if (dependencies) c->deps = dependencies();
    if (c->deps) {
      for (const auto& t : c->deps->tables) c->tables.insert(t.table_key);
      for (const auto& t : c->tables) impl.cohorts_by_table[t].insert(c.get());
    }
    impl.evaluate_mode(c);
  }
  ++c->pending;
  c->all.insert(id);
  c->busy.insert(id);
  if (c->deps) {
    // Rule 2: registered before the first fetch, so no commit after its snapshot is missed.
    auto added = impl.matcher->add(id, c->deps, vars);
    if (!added.ok())
      spdlog::error("live: matcher refused subscriber {}: {}", id, added.error().message);
  }
  Subscriber s;
  s.id = id;
  s.cohort = c;
  s.vars = boost::json::serialize(vars);
  s.push = std::move(push);
  s.in_flight = true;
  impl.subscribers.emplace(id, std::move(s));
  impl.update_gauges();
  if (impl.stopped) return id;
  impl.spawn(Impl::first_fetch(impl_, c, id), "first fetch");
  return id;
}

void LiveQueries::unsubscribe(SubscriberId id) { impl_->remove(id, std::nullopt); }

void LiveQueries::refetch(const std::vector<SubscriberId>& ids, std::optional<std::uint64_t> xid8) {
  if (impl_->stopped) return;
  impl_->request_refetch(ids, xid8);
}

void LiveQueries::refetch_all() {
  if (impl_->stopped) return;
  std::vector<SubscriberId> ids;
  for (const auto& [id, s] : impl_->subscribers) {
    if (s.cohort) ids.push_back(id);
  }
  impl_->request_refetch(ids, std::nullopt);
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
CohortMode LiveQueries::default_mode() const { return impl_->options.live_mode_default; }

std::vector<SubscriberId> LiveQueries::match(const Transaction& txn) const {
  const auto& impl = *impl_;
  std::vector<SubscriberId> out;
  if (impl.stopped || !impl.event_available) return out;
  for (SubscriberId id : impl.matcher->affected(txn)) {
    auto it = impl.subscribers.find(id);
    if (it == impl.subscribers.end() || !it->second.cohort) continue;
    if (it->second.cohort->mode == CohortMode::kEvent) out.push_back(id);
  }
  std::set<std::string> touched;
  for (const auto& change : txn.changes) touched.insert(change.schema + "." + change.table);
  for (const auto& table : touched) {
    auto it = impl.cohorts_by_table.find(table);
    if (it == impl.cohorts_by_table.end()) continue;
    for (const Cohort* c : it->second) {
      if (c->mode != CohortMode::kEvent) continue;
      // A fetch in flight may be reading a snapshot before this commit while its keys are not
      // known yet: the matcher saw the previous keys, so refetch once more afterwards.
      const auto& ids = c->forced_tables.count(table) ? c->all : c->busy;
      out.insert(out.end(), ids.begin(), ids.end());
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void LiveQueries::set_mode(SubscriberId id, CohortMode mode, std::string reason) {
  auto it = impl_->subscribers.find(id);
  if (it == impl_->subscribers.end() || !it->second.cohort) return;
  auto c = it->second.cohort;
  c->mode_reason = std::move(reason);
  if (c->mode == mode) return;
  c->mode = mode;
  if (mode == CohortMode::kEvent) {
    if (c->timer) c->timer->cancel();
  } else if (c->members > 0) {
    impl_->start_poll(c);
  }
}

const std::string* LiveQueries::last_keys(SubscriberId id) const {
  auto it = impl_->subscribers.find(id);
  if (it == impl_->subscribers.end() || !it->second.has_result) return nullptr;
  return &it->second.keys;
}

std::size_t LiveQueries::subscriber_count() const { return impl_->subscribers.size(); }
std::size_t LiveQueries::cohort_count() const { return impl_->cohorts.size(); }

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
        {"role", c->role},
        {"root_field", c->root_field},
        {"mode", c->mode == CohortMode::kPoll ? "poll" : "event"},
        {"mode_reason", c->mode_reason},
        {"subscribers", c->members},
        {"distinct_variables", c->groups.size()},
        {"refetches", c->refetches},
        {"statements", c->statements},
        {"last_refetch_ms", c->last_refetch_ms},
        {"p99_refetch_ms", p99},
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
  }
  impl.cohorts.clear();
  impl.cohorts_by_table.clear();
  impl.subscribers.clear();
  impl.matcher = std::make_unique<matcher::Matcher>();
  impl.update_gauges();
}

}  // namespace liveql::live

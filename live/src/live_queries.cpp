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
#include <boost/unordered/unordered_flat_map.hpp>
#include <deque>
#include <map>
#include <set>
#include <span>
#include <unordered_map>

#include "liveql/compiler/dependencies.hpp"
#include "liveql/live/metrics.hpp"
#include "liveql/live/pg_pool.hpp"
#include "liveql/matcher/matcher.hpp"
#include "liveql/matcher/result_keys.hpp"
#include "mode_policy.hpp"
#include "multiplexed_statement.hpp"
#include "refetch_budget.hpp"
#include "stream_batch.hpp"

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
// The batch window under load (refetch_budget.hpp): a few times the last statement's duration,
// at least 10 ms (a cohort under a sustained stream of commits runs at most ~100 statements/s
// instead of one per few commits), at most Options::refetch_interval / kWindowShare and
// kMaxWindow, unless the cohort's budget throttles it.
constexpr int kWindowShare = 10;
constexpr std::chrono::milliseconds kMaxWindow{50};

std::uint64_t hash_text(std::string_view text) { return std::hash<std::string_view>{}(text); }

// The transactions a fetch must see (rule 8), sorted, without duplicates. All of them, not the
// newest: transactions become visible in no particular order. At most kMaxXids per subscriber
// (the newest: an older one is all but certainly visible by the time a newer one was decoded).
using Xids = std::vector<std::uint64_t>;
constexpr std::size_t kMaxXids = 256;

// Results written from row images are pushed at most this often (rule 11): a commit after a
// quiet moment is pushed at once, commits arriving faster share a flush, so thousands of commits
// a second wake the I/O threads fifty times, not once per commit. (5 ms measured 0.02–0.03 core
// more at 3,000 commits/s over 5,000 subscribers, most of it threads waking: docs/BENCHMARKS.md.)
constexpr std::chrono::milliseconds kImageFlushPeriod{20};

void merge_xid(Xids& into, std::optional<std::uint64_t> xid) {
  if (!xid) return;
  auto pos = std::lower_bound(into.begin(), into.end(), *xid);
  if (pos != into.end() && *pos == *xid) return;
  into.insert(pos, *xid);
  if (into.size() > kMaxXids) into.erase(into.begin());
}

void merge_xids(Xids& into, std::span<const std::uint64_t> from) {
  for (std::uint64_t x : from) merge_xid(into, x);
}

}  // namespace

// A statement in flight and the subscribers still waiting for its rows. When the last of them
// leaves, `signal` cancels it (PgPool::query's cancellation: PQcancel), so a statement nobody
// waits for stops costing the database; one that serves anybody runs to the end.
struct RunningStatement {
  asio::cancellation_signal signal;
  std::set<SubscriberId> serves;
  // Set when it first got a connection (its snapshot is taken after): the commit log position
  // from which commits are matched again against its new keys.
  bool sent = false;
  std::uint64_t log_start = 0;
};

// One refetch: the subscribers asked in one turn of the loop (a commit, a poll tick, a catch-up
// after statements returned), done when the last of them has its result (or left).
struct Round {
  std::size_t remaining = 0;
  bool refetch = false;  // serves a joined subscriber (first fetches alone are not counted)
  Clock::time_point started = Clock::now();
};

struct Cohort {
  std::uint64_t id = 0;
  std::string role;
  std::string sql;
  std::string root_field;
  bool takes_xid = false;  // the SQL has a $3::xid8 parameter
  LiveMode mode = LiveMode::kPoll;
  std::string mode_reason = "default";
  // Joined subscribers (first result received) grouped by their vars text.
  std::map<std::string, std::set<SubscriberId>> groups;
  std::size_t members = 0;     // joined subscribers
  std::set<SubscriberId> all;  // every subscriber, joined or not
  bool dead = false;
  std::unique_ptr<asio::steady_timer> timer;
  bool poll_running = false;
  // Event mode: the operation's dependencies (null: unknown, the cohort polls), the tables it
  // reads, those forced to event mode although intractable (any change marks the cohort).
  std::shared_ptr<const deps::Dependencies> deps;
  std::set<std::string> tables;
  std::set<std::string> forced_tables;
  std::string broken_reason;  // set when result keys could not be read: poll from then on

  // The scheduler: subscribers waiting for a statement, in request order (ids that left or
  // were taken meanwhile are skipped), and the statements running.
  std::deque<SubscriberId> waiting_first;
  std::deque<SubscriberId> waiting;
  std::size_t running = 0;
  bool pump_posted = false;
  std::shared_ptr<Round> open_round;  // collecting this turn's requests until the next pump
  // The batch window: under load, a partial statement waits until `window_until` (see pump).
  Clock::time_point window_until;
  std::optional<RefetchBudget> budget;  // event statements' cost against a poll round's
  std::unique_ptr<asio::steady_timer> window_timer;
  bool window_armed = false;
  // Throttled (budget): no event statement starts before this (a cap after the last started).
  Clock::time_point throttle_until;
  std::shared_ptr<Round> poll_round;  // the last poll tick's round

  std::uint64_t refetches = 0;
  std::uint64_t statements = 0;
  std::uint64_t row_images = 0;  // results written from a commit's row image (rule 11)
  // Throttled by its budget (its subscribers asked for more than about once an interval each):
  // no written result is pushed before this; and whether this flush counted it yet.
  Clock::time_point image_hold_until;
  bool image_flushed = false;
  double last_refetch_ms = 0;
  std::vector<double> durations;  // ring of the last kDurationWindow refetches, ms
  std::size_t durations_next = 0;

  std::string key() const { return role + '\0' + sql; }

  // A streaming subscription's cohort: the vars key of the cursor, which every batch moves on
  // (apply_stream); empty for a live query.
  std::string stream_cursor_key;
};

using ResultText = LiveQueries::ResultText;

struct Subscriber {
  SubscriberId id = 0;
  std::shared_ptr<Cohort> cohort;  // null for static data
  std::string vars;                // vars JSON text
  LiveQueries::Push push;
  bool joined = false;  // its first result arrived
  bool has_result = false;
  std::uint64_t hash = 0;
  std::string keys;
  // In the cohort's queue, for a statement not started yet; xid: the newest asked for.
  bool waiting = false;
  Xids xids;
  std::shared_ptr<Round> round;  // the refetch it waits in, until its result is applied
  // Asked again while its statement runs: waits again once it returns.
  bool again = false;
  Xids again_xids;
  std::shared_ptr<RunningStatement> statement;  // the statement running for it, if any
  // LiveQueries::Impl::keys_epoch when its matcher keys last changed (0: never).
  std::uint64_t keys_epoch = 0;
  // When the oldest commit its next result answers was decoded (commit -> push latency), and
  // the same for a commit that came while its statement ran.
  std::optional<Clock::time_point> changed_at;
  std::optional<Clock::time_point> again_changed_at;
  // Rule 11, in a cohort whose result one row image writes: the key (and checked values) its
  // vars select, and the newest commit whose image wrote its result (the next statement for it
  // must see that one).
  std::optional<deps::RowKey> row_key;
  std::optional<std::uint64_t> written_xid;
  // A written result not pushed yet (the next image flush pushes it, unless a statement's newer
  // result is pushed first), and when the oldest commit it answers was decoded.
  ResultText image_pending;
  std::optional<Clock::time_point> image_changed_at;
  bool image_queued = false;  // in Impl::image_queue
};

// The final state, per key, of the rows of one table a transaction changed: the image of its
// last insert or update, or null when its last change deleted it or moved it to another key.
// Built on first use, for the tables of cohorts whose results row images write (rule 11).
class FinalRows {
 public:
  explicit FinalRows(const Transaction& txn) : txn_(txn) {}

  // The final image of `key` in `table`; std::nullopt when the transaction did not change that
  // key, or its changes cannot tell (a truncate, an image without the key column).
  std::optional<const RowImage*> find(const catalog::QualifiedName& table,
                                      const std::string& key_column, std::string_view key) {
    Table& t = table_of(table, key_column);
    if (t.unsure) return std::nullopt;
    auto it = t.rows.find(key);
    if (it == t.rows.end()) return std::nullopt;
    return it->second;
  }

 private:
  struct Table {
    catalog::QualifiedName name;
    std::string key_column;
    bool unsure = false;
    boost::unordered_flat_map<std::string_view, const RowImage*> rows;
  };

  Table& table_of(const catalog::QualifiedName& name, const std::string& key_column) {
    for (auto& t : tables_)
      if (t.name == name && t.key_column == key_column) return t;
    Table& t = tables_.emplace_back();
    t.name = name;
    t.key_column = key_column;
    for (const RowChange& change : txn_.changes) {
      if (change.schema != name.schema || change.table != name.name) continue;
      if (change.kind == ChangeKind::kTruncate) {
        t.unsure = true;
        break;
      }
      const ColumnValue* old_key = change.old_row.find(key_column);
      const ColumnValue* new_key = change.new_row.find(key_column);
      if (change.kind == ChangeKind::kDelete || (change.kind == ChangeKind::kUpdate && old_key &&
                                                 new_key && old_key->value != new_key->value)) {
        if (!old_key || !old_key->value) {
          t.unsure = true;
          break;
        }
        t.rows[*old_key->value] = nullptr;
      }
      if (change.kind == ChangeKind::kInsert || change.kind == ChangeKind::kUpdate) {
        if (!new_key || !new_key->value) {
          t.unsure = true;
          break;
        }
        t.rows[*new_key->value] = &change.new_row;
      }
    }
    return t;
  }

  const Transaction& txn_;
  std::vector<Table> tables_;
};

// One statement's worth of work: distinct vars and, per vars, the subscribers to fan out to.
struct Batch {
  std::vector<std::string> vars;
  std::vector<std::vector<SubscriberId>> members;
};

// A committed transaction kept for the in-flight rule, with the tables it changed and whom the
// matcher named for it at keys epoch `matched_at`: still the answer for any subscriber whose
// keys have not changed since (the matcher's answer for one subscriber depends only on its own
// dependencies, vars and keys), so a returning statement matches it again only when one of its
// subscribers got new keys.
struct LoggedCommit {
  std::shared_ptr<const Transaction> txn;
  std::optional<std::uint64_t> xid;
  std::set<std::string> tables;        // "schema.table"
  std::vector<SubscriberId> affected;  // sorted
  std::uint64_t matched_at = 0;
};

struct LiveQueries::Impl : std::enable_shared_from_this<LiveQueries::Impl> {
  asio::any_io_executor ex;
  PgPool& pool;
  Metrics& metrics;
  Options options;
  std::size_t max_parallel = 1;
  Clock::duration max_window{};
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

  // The commit log of the in-flight rule: log[i] has position log_base + i. Kept while any
  // statement runs, from the earliest one's start.
  std::deque<LoggedCommit> log;
  std::uint64_t log_base = 0;
  std::multiset<std::uint64_t> log_readers;  // log_start of the statements sent and running
  // Counts changes of subscribers' matcher keys (see LoggedCommit).
  std::uint64_t keys_epoch = 0;
  std::size_t row_result_cohorts = 0;  // cohorts whose deps have a row_result (rule 11)
  std::string image_zone;              // set_image_time_zone()
  // Subscribers with a written result to push at the next image flush, in write order.
  std::vector<SubscriberId> image_queue;
  std::unique_ptr<asio::steady_timer> image_timer;
  bool image_flush_scheduled = false;
  std::size_t images_served = 0;  // results written since the last flush (for the metric)
  Clock::time_point image_flush_due;
  Clock::time_point last_image_flush;

  Impl(asio::any_io_executor e, PgPool& p, Metrics& m, Options o)
      : ex(std::move(e)), pool(p), metrics(m), options(o) {
    if (options.batch_size == 0) options.batch_size = 1;
    max_window = std::min<Clock::duration>(kMaxWindow, options.refetch_interval / kWindowShare);
    max_parallel = options.max_parallel_statements > 0 ? options.max_parallel_statements
                                                       : std::max<std::size_t>(1, pool.size() / 2);
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

  // Calls a subscriber's push without letting its exceptions unwind our bookkeeping. Counts an
  // error; callers count results in `liveql_pushes_total` (once per burst, not per push).
  void deliver(Subscriber& s, Result<ResultText> r) {
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

  // Pushes a burst of results (a statement's, a flush's) with one metrics update: commit → push
  // latencies of those a commit caused, and the count delivered.
  void deliver_all(std::vector<std::pair<SubscriberId, ResultText>>& pushes,
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

  // ---- the commit log (in-flight rule) ----

  std::uint64_t log_end() const { return log_base + log.size(); }
  bool log_needed() const { return !log_readers.empty(); }

  void trim_log() {
    std::uint64_t keep = log_readers.empty() ? log_end() : *log_readers.begin();
    while (log_base < keep && !log.empty()) {
      log.pop_front();
      ++log_base;
    }
  }

  // Whether any of these tables ("schema.table", the keys of cohorts_by_table) is read by an
  // event-mode cohort.
  bool any_event_cohort_reads(const std::set<std::string>& tables) const {
    for (const auto& table : tables) {
      auto it = cohorts_by_table.find(table);
      if (it == cohorts_by_table.end()) continue;
      for (const Cohort* c : it->second) {
        if (c->mode == LiveMode::kEvent) return true;
      }
    }
    return false;
  }

  // ---- registry ----

  void maybe_delete_cohort(const std::shared_ptr<Cohort>& c) {
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

  // Removes a subscriber; with an error, pushes it first.
  void remove(SubscriberId id, std::optional<Error> error) {
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

  // ---- the scheduler ----

  // Asks for a fetch of `s` (see "Scheduling" in the header).
  // `changed`: when the commit that asks for it was decoded (none for polls and catch-ups).
  void request(Subscriber& s, std::optional<std::uint64_t> xid,
               std::optional<Clock::time_point> changed = std::nullopt) {
    // A view of the one xid, not a vector: this runs per matched subscriber of every commit.
    request(s, xid ? std::span<const std::uint64_t>(&*xid, 1) : std::span<const std::uint64_t>(),
            changed);
  }
  void request(Subscriber& s, std::span<const std::uint64_t> xids,
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

  void request_ids(const std::vector<SubscriberId>& ids, std::optional<std::uint64_t> xid,
                   std::optional<Clock::time_point> changed = std::nullopt) {
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

  void request_members(Cohort& c, bool only_idle) {
    for (const auto& [vars, members] : c.groups) {
      for (SubscriberId id : members) {
        auto& s = subscribers.at(id);
        if (only_idle && (s.waiting || s.statement)) continue;
        request(s, std::nullopt);
      }
    }
  }

  // Pumps later (posted): requests made in the same turn of the loop share statements.
  void schedule_pump(const std::shared_ptr<Cohort>& c) {
    if (c->pump_posted) return;
    c->pump_posted = true;
    asio::post(ex, [self = shared_from_this(), c] {
      c->pump_posted = false;
      self->pump(c);
    });
  }

  // Drops queue entries that left or were taken (a subscriber is queued once per wait).
  void prune(std::deque<SubscriberId>& queue) {
    while (!queue.empty()) {
      auto it = subscribers.find(queue.front());
      if (it != subscribers.end() && it->second.waiting) return;
      queue.pop_front();
    }
  }

  void pump(const std::shared_ptr<Cohort>& c) {
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

  // Pumps the cohort at `when`, or earlier when already armed for an earlier time. Re-arming
  // for an earlier time cancels the later wait (its handler does nothing).
  void arm_window(const std::shared_ptr<Cohort>& c, Clock::time_point when) {
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

  // Up to `capacity` distinct vars from the front of `queue`, marked as served by `statement`.
  struct Taken {
    Batch batch;
    std::shared_ptr<RunningStatement> statement;
    Xids xids;
    Clock::time_point started = Clock::now();
  };
  Taken take(std::deque<SubscriberId>& queue, std::size_t capacity) {
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

  void start_statement(const std::shared_ptr<Cohort>& c, Taken t, bool first) {
    if (t.batch.vars.empty()) return;
    ++c->running;
    // (One shared object as the coroutine's parameter: GCC 12 mishandles aggregates holding
    // shared_ptrs passed by value into coroutine frames.)
    spawn(run_batch(shared_from_this(), c, std::make_shared<Taken>(std::move(t)), first),
          "refetch");
  }

  // A subscriber of `round` has its result or left: the last one completes the refetch.
  void leave_round(Cohort& c, std::shared_ptr<Round>& round) {
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

  // ---- poll mode ----

  void start_poll(const std::shared_ptr<Cohort>& c) {
    if (c->dead || c->mode != LiveMode::kPoll || c->poll_running || c->members == 0) return;
    c->poll_running = true;
    if (!c->timer) c->timer = std::make_unique<asio::steady_timer>(ex);
    spawn(poll_loop(shared_from_this(), c), "poll loop");
  }

  // Ticks on a fixed schedule; a tick that finds the previous tick's refetch still running is
  // skipped (rounds never overlap), instead of moving every later tick.
  static asio::awaitable<void> poll_loop(std::shared_ptr<Impl> self, std::shared_ptr<Cohort> c) {
    auto next = Clock::now() + self->options.refetch_interval;
    while (!self->stopped && !c->dead && c->mode == LiveMode::kPoll) {
      c->timer->expires_at(next);
      co_await c->timer->async_wait(kTuple);
      if (self->stopped || c->dead || c->mode != LiveMode::kPoll) break;
      if (!c->poll_round || c->poll_round->remaining == 0) {
        // Subscribers already waiting or fetching (a targeted refetch) are covered by it.
        self->request_members(*c, true);
        c->poll_round = c->open_round;
      }
      next += self->options.refetch_interval;
      auto now = Clock::now();
      if (next <= now) next = now + self->options.refetch_interval;
    }
    c->poll_running = false;
  }

  // ---- statements ----

  // The subscribers of `batch` still served by `statement` (a vars group whose members all
  // left is dropped): rows nobody waits for are not computed.
  Batch still_waiting(const Batch& batch, const RunningStatement& statement) const {
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

  // Runs one statement for `vars`, cancelled as soon as none of `statement`'s subscribers waits
  // any more (then the result is an error nobody receives). Retries while the transaction `xid`
  // is not yet visible to the statement's snapshot. A lost connection is retried with backoff:
  // for as long as it takes with `persist` (refetches of joined subscribers), a few times
  // otherwise (a first fetch then fails with the error).
  asio::awaitable<Result<QueryResult>> run_statement(std::shared_ptr<Cohort> c,
                                                     const std::vector<std::string>& vars,
                                                     Xids xids, bool persist,
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

  // Runs a taken batch to the end: the statement, on failure its isolation per vars, the
  // in-flight rule, then the next statements of the cohort.
  static asio::awaitable<void> run_batch(std::shared_ptr<Impl> self, std::shared_ptr<Cohort> c,
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

  asio::awaitable<void> serve(std::shared_ptr<Cohort> c, const Batch& planned, Xids xids,
                              std::shared_ptr<RunningStatement> statement, bool first) {
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

  // The statement's snapshot still did not see the transaction it was run for after every
  // visibility retry (a very busy server): its result may predate the commit. Its subscribers
  // are fetched once more after it returns, without a visibility check (by then the commit is
  // long visible; a bogus xid cannot loop), rather than left on a result that may be stale.
  void refetch_unseen(Cohort& c, const Batch& batch, const RunningStatement& statement) {
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

  // Applies a statement's rows: subscribers join on their first result; new result keys go to
  // the matcher; changed results are pushed to every member of their vars (one shared text).
  void apply(const std::shared_ptr<Cohort>& c, const Batch& batch, const QueryResult& r) {
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

  // A stream cohort's row for the members of one vars set (all at the same cursor). An empty
  // batch is not pushed (Hasura sends nothing, not even first). A batch goes to every member,
  // unhashed (two batches may look alike), and moves their cursor to its last row: their vars
  // group and their matcher registration follow, so that only rows past the new cursor match
  // from now on. Result keys are not kept: a row once streamed is never sent again. A full batch
  // asks for the next one at once (after the statement returns), without waiting for a commit.
  void apply_stream(const std::shared_ptr<Cohort>& c, const std::vector<SubscriberId>& members,
                    std::string_view text, std::optional<std::string_view> cursor, bool full,
                    Clock::time_point now, std::vector<std::pair<SubscriberId, ResultText>>& pushes,
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

  // The statement has returned: the in-flight rule, then its subscribers are free again (those
  // asked meanwhile wait again) and the cohort's next statements start.
  void release(const std::shared_ptr<Cohort>& c, const Batch& batch, RunningStatement& statement,
               Clock::duration took, bool first) {
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

  // Whether any subscriber the statement serves got new matcher keys after keys epoch `epoch`.
  bool keys_changed_since(const RunningStatement& statement, std::uint64_t epoch) const {
    if (keys_epoch == epoch) return false;
    for (SubscriberId id : statement.serves) {
      auto it = subscribers.find(id);
      if (it != subscribers.end() && it->second.keys_epoch > epoch) return true;
    }
    return false;
  }

  // ---- results from row images (rule 11) ----

  // The texts one commit wrote, per (plan, image): subscribers with the same key share one.
  struct WrittenText {
    ResultText text;
    std::uint64_t hash = 0;
  };
  using Written =
      boost::unordered_flat_map<std::pair<const deps::RowResult*, const RowImage*>, WrittenText>;

  // Serves from the transaction's row images the subscribers of `ids` whose result one row
  // writes (their cohort's deps have a row_result) and who wait for no statement: the row their
  // key selects, already in their result, ends updated (or deleted and inserted again), passes
  // the checks and shows every column the result shows. Queues the ones
  // whose result changed for the next flush and removes every one it served from `ids`; the
  // rest are refetched.
  void write_from_images(const Transaction& txn, std::vector<SubscriberId>& ids,
                         std::optional<std::uint64_t> xid, Clock::time_point decoded) {
    std::optional<FinalRows> rows;  // indexed on first use
    Written written;
    auto keep = ids.begin();
    for (SubscriberId id : ids) {
      auto it = subscribers.find(id);
      if (it == subscribers.end() || !write_from_image(it->second, txn, rows, written, decoded)) {
        *keep++ = id;
        continue;
      }
      it->second.written_xid = xid;
      ++it->second.cohort->row_images;
    }
    const auto served = static_cast<std::size_t>(ids.end() - keep);
    ids.erase(keep, ids.end());
    if (served == 0) return;
    images_served += served;  // counted at the next flush, once per flush
    if (!image_flush_scheduled) schedule_image_flush(last_image_flush + kImageFlushPeriod);
  }

  // Flushes at `due` (or sooner if one is due sooner already): a timer whose expiry has passed
  // completes on the next turn, so the commits decoded in this turn share the flush.
  void schedule_image_flush(Clock::time_point due) {
    if (image_flush_scheduled && image_flush_due <= due) return;
    image_flush_scheduled = true;
    image_flush_due = due;
    if (!image_timer) image_timer = std::make_unique<asio::steady_timer>(ex);
    image_timer->expires_at(due);  // a wait pending for later completes as aborted
    image_timer->async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->flush_images();
    });
  }

  // Pushes the written results, except those of throttled cohorts before their hold ends (they
  // stay queued); counts each cohort's pushes against its budget.
  void flush_images() {
    image_flush_scheduled = false;
    if (stopped) return;
    const auto now = Clock::now();
    last_image_flush = now;
    std::vector<SubscriberId> queue = std::move(image_queue);
    image_queue.clear();
    std::optional<Clock::time_point> held_until;
    std::vector<Cohort*> counted;
    std::vector<std::pair<SubscriberId, ResultText>> pushes;
    std::vector<double> latencies;
    for (SubscriberId id : queue) {
      auto it = subscribers.find(id);
      if (it == subscribers.end()) continue;
      Subscriber& s = it->second;
      Cohort& c = *s.cohort;
      if (s.image_pending && now < c.image_hold_until) {
        image_queue.push_back(id);
        held_until = std::min(held_until.value_or(c.image_hold_until), c.image_hold_until);
        continue;
      }
      s.image_queued = false;
      auto changed = std::exchange(s.image_changed_at, std::nullopt);
      if (!s.image_pending) continue;  // a statement's newer result went first
      pushes.emplace_back(id, std::exchange(s.image_pending, nullptr));
      if (changed) latencies.push_back(std::chrono::duration<double>(now - *changed).count());
      if (!std::exchange(c.image_flushed, true)) counted.push_back(&c);
    }
    for (Cohort* c : counted) {
      c->image_flushed = false;
      c->budget->flushed(now, c->members);
      // Held, the pushes keep their period as a poll round's timer does (the next one a cap
      // after the last one was due, not after this late flush), unless the last is long past.
      if (c->budget->throttled()) {
        const auto next = c->image_hold_until + c->budget->cap();
        c->image_hold_until = next > now ? next : now + c->budget->cap();
      }
    }
    if (held_until) schedule_image_flush(*held_until);
    if (images_served > 0) {
      metrics.inc("liveql_row_image_results_total",
                  static_cast<double>(std::exchange(images_served, 0)));
    }
    deliver_all(pushes, latencies);
  }

  bool write_from_image(Subscriber& s, const Transaction& txn, std::optional<FinalRows>& rows,
                        Written& written, Clock::time_point decoded) {
    if (!s.row_key || !s.cohort || !s.cohort->deps || !s.cohort->deps->row_result) return false;
    if (!s.has_result || s.waiting || s.statement || s.cohort->mode != LiveMode::kEvent)
      return false;
    // Only a row already in its result: its result keys then stay right. A row entering it is
    // refetched, so that its keys find the row when it leaves (by an update its predicate alone
    // cannot see, e.g. `region` changing under REPLICA IDENTITY DEFAULT).
    if (s.keys.empty() || s.keys == "[]") return false;
    const deps::RowResult& plan = *s.cohort->deps->row_result;
    // A timestamptz prints in each session's zone: the image's must be the statement's.
    if (plan.zoned && (image_zone.empty() || image_zone != pool.time_zone())) return false;
    if (!rows) rows.emplace(txn);
    auto image = rows->find(plan.table, plan.key_column, s.row_key->key);
    if (!image || !*image || !deps::row_passes(plan, *s.row_key, **image)) return false;
    auto [same, fresh] = written.try_emplace({&plan, *image});
    if (fresh) {
      auto text = deps::write_row_result(plan, **image);
      if (!text) {
        written.erase(same);
        return false;
      }
      same->second.hash = hash_text(*text);
      same->second.text = std::make_shared<const std::string>(std::move(*text));
    }
    const std::uint64_t h = same->second.hash;
    if (s.hash != h) {
      s.cohort->budget->demanded(1);
      s.hash = h;
      s.image_pending = same->second.text;  // a newer one replaces a pending one
      if (!s.image_changed_at) s.image_changed_at = decoded;
      if (!s.image_queued) {
        s.image_queued = true;
        image_queue.push_back(s.id);
      }
      schedule_image_flush(
          std::max(last_image_flush + kImageFlushPeriod, s.cohort->image_hold_until));
    }
    return true;
  }

  // ---- modes ----

  void evaluate_mode(const std::shared_ptr<Cohort>& c) {
    if (c->dead) return;
    ModeDecision d = decide_mode({.deps = c->deps.get(),
                                  .broken_reason = c->broken_reason,
                                  .event_available = event_available,
                                  .event_unavailable_reason = event_unavailable_reason,
                                  .default_mode = options.live_mode_default,
                                  .table_modes = &table_modes});
    c->forced_tables = std::move(d.forced_tables);
    c->mode_reason = std::move(d.reason);
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

  void evaluate_all_modes() {
    std::vector<std::shared_ptr<Cohort>> list;
    for (const auto& [key, c] : cohorts) list.push_back(c);
    for (const auto& c : list) evaluate_mode(c);
  }
};

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
  if (c->mode == mode) return;
  c->mode = mode;
  if (mode == LiveMode::kEvent) {
    if (c->timer) c->timer->cancel();
  } else {
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

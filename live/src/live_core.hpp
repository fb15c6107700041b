// The live core's insides, shared by its parts (one LiveQueries::Impl, on the live core's
// executor; nothing here is thread-safe):
//  - live_queries.cpp: the public API, deliveries and the commit log of the in-flight rule;
//  - cohort_registry.cpp: cohorts and subscribers coming and going, and each cohort's mode
//    (mode_policy.hpp decides it);
//  - refetch_scheduler.cpp: the queue of fetches, batch windows and the budget
//    (refetch_budget.hpp), poll rounds, and the statements (multiplexed_statement.hpp builds
//    their variables), applying their rows;
//  - row_images.cpp: results written from a commit's row images (rule 11) and their flushes.
#pragma once

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
#include "liveql/live/live_queries.hpp"
#include "liveql/live/metrics.hpp"
#include "liveql/live/pg_pool.hpp"
#include "liveql/matcher/matcher.hpp"
#include "liveql/matcher/result_keys.hpp"
#include "mode_policy.hpp"
#include "multiplexed_statement.hpp"
#include "refetch_budget.hpp"
#include "spawn_logged.hpp"
#include "stream_batch.hpp"

namespace liveql::live {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

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

inline std::uint64_t hash_text(std::string_view text) {
  return std::hash<std::string_view>{}(text);
}

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

inline void merge_xid(Xids& into, std::optional<std::uint64_t> xid) {
  if (!xid) return;
  auto pos = std::lower_bound(into.begin(), into.end(), *xid);
  if (pos != into.end() && *pos == *xid) return;
  into.insert(pos, *xid);
  if (into.size() > kMaxXids) into.erase(into.begin());
}

inline void merge_xids(Xids& into, std::span<const std::uint64_t> from) {
  for (std::uint64_t x : from) merge_xid(into, x);
}

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
  // Polled for a table's write rate (ModeDecision::write_fallback): every held period (the
  // budget's, 0.8 × the interval) instead of every refetch_interval.
  bool fallback_poll = false;
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

class FinalRows;  // row_images.cpp

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
      asio::co_spawn(self->ex, std::move(task), log_failure(self, self->metrics, what));
    });
  }

  // Calls a subscriber's push without letting its exceptions unwind our bookkeeping. Counts an
  // error; callers count results in `liveql_pushes_total` (once per burst, not per push).
  void deliver(Subscriber& s, Result<ResultText> r);

  // Pushes a burst of results (a statement's, a flush's) with one metrics update: commit → push
  // latencies of those a commit caused, and the count delivered.
  void deliver_all(std::vector<std::pair<SubscriberId, ResultText>>& pushes,
                   const std::vector<double>& latencies);

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
  bool any_event_cohort_reads(const std::set<std::string>& tables) const;

  // ---- registry ----

  void maybe_delete_cohort(const std::shared_ptr<Cohort>& c);

  // Removes a subscriber; with an error, pushes it first.
  void remove(SubscriberId id, std::optional<Error> error);

  // ---- the scheduler ----

  // Asks for a fetch of `s` (see "Scheduling" in the header).
  // `changed`: when the commit that asks for it was decoded (none for polls and catch-ups).
  void request(Subscriber& s, std::optional<std::uint64_t> xid,
               std::optional<Clock::time_point> changed = std::nullopt);
  void request(Subscriber& s, std::span<const std::uint64_t> xids,
               std::optional<Clock::time_point> changed);

  void request_ids(const std::vector<SubscriberId>& ids, std::optional<std::uint64_t> xid,
                   std::optional<Clock::time_point> changed = std::nullopt);

  void request_members(Cohort& c, bool only_idle);

  // Pumps later (posted): requests made in the same turn of the loop share statements.
  void schedule_pump(const std::shared_ptr<Cohort>& c);

  // Drops queue entries that left or were taken (a subscriber is queued once per wait).
  void prune(std::deque<SubscriberId>& queue);

  void pump(const std::shared_ptr<Cohort>& c);

  // Pumps the cohort at `when`, or earlier when already armed for an earlier time. Re-arming
  // for an earlier time cancels the later wait (its handler does nothing).
  void arm_window(const std::shared_ptr<Cohort>& c, Clock::time_point when);

  // Up to `capacity` distinct vars from the front of `queue`, marked as served by `statement`.
  struct Taken {
    Batch batch;
    std::shared_ptr<RunningStatement> statement;
    Xids xids;
    Clock::time_point started = Clock::now();
  };
  Taken take(std::deque<SubscriberId>& queue, std::size_t capacity);

  void start_statement(const std::shared_ptr<Cohort>& c, Taken t, bool first);

  // A subscriber of `round` has its result or left: the last one completes the refetch.
  void leave_round(Cohort& c, std::shared_ptr<Round>& round);

  // ---- poll mode ----

  void start_poll(const std::shared_ptr<Cohort>& c);
  // A polling cohort's period: the held period while polled for a table's write rate, else
  // refetch_interval.
  Clock::duration poll_period(const Cohort& c) const {
    return c.fallback_poll ? c.budget->held_period() : Clock::duration(options.refetch_interval);
  }

  // Ticks on a fixed schedule; a tick that finds the previous tick's refetch still running is
  // skipped (rounds never overlap), instead of moving every later tick.
  static asio::awaitable<void> poll_loop(std::shared_ptr<Impl> self, std::shared_ptr<Cohort> c);

  // ---- statements ----

  // The subscribers of `batch` still served by `statement` (a vars group whose members all
  // left is dropped): rows nobody waits for are not computed.
  Batch still_waiting(const Batch& batch, const RunningStatement& statement) const;

  // Runs one statement for `vars`, cancelled as soon as none of `statement`'s subscribers waits
  // any more (then the result is an error nobody receives). Retries while the transaction `xid`
  // is not yet visible to the statement's snapshot. A lost connection is retried with backoff:
  // for as long as it takes with `persist` (refetches of joined subscribers), a few times
  // otherwise (a first fetch then fails with the error).
  asio::awaitable<Result<QueryResult>> run_statement(std::shared_ptr<Cohort> c,
                                                     const std::vector<std::string>& vars,
                                                     Xids xids, bool persist,
                                                     std::shared_ptr<RunningStatement> statement);

  // Runs a taken batch to the end: the statement, on failure its isolation per vars, the
  // in-flight rule, then the next statements of the cohort.
  static asio::awaitable<void> run_batch(std::shared_ptr<Impl> self, std::shared_ptr<Cohort> c,
                                         std::shared_ptr<Taken> t, bool first);

  asio::awaitable<void> serve(std::shared_ptr<Cohort> c, const Batch& planned, Xids xids,
                              std::shared_ptr<RunningStatement> statement, bool first);

  // The statement's snapshot still did not see the transaction it was run for after every
  // visibility retry (a very busy server): its result may predate the commit. Its subscribers
  // are fetched once more after it returns, without a visibility check (by then the commit is
  // long visible; a bogus xid cannot loop), rather than left on a result that may be stale.
  void refetch_unseen(Cohort& c, const Batch& batch, const RunningStatement& statement);

  // Applies a statement's rows: subscribers join on their first result; new result keys go to
  // the matcher; changed results are pushed to every member of their vars (one shared text).
  void apply(const std::shared_ptr<Cohort>& c, const Batch& batch, const QueryResult& r);

  // A stream cohort's row for the members of one vars set (all at the same cursor). An empty
  // batch is not pushed (Hasura sends nothing, not even first). A batch goes to every member,
  // unhashed (two batches may look alike), and moves their cursor to its last row: their vars
  // group and their matcher registration follow, so that only rows past the new cursor match
  // from now on. Result keys are not kept: a row once streamed is never sent again. A full batch
  // asks for the next one at once (after the statement returns), without waiting for a commit.
  void apply_stream(const std::shared_ptr<Cohort>& c, const std::vector<SubscriberId>& members,
                    std::string_view text, std::optional<std::string_view> cursor, bool full,
                    Clock::time_point now, std::vector<std::pair<SubscriberId, ResultText>>& pushes,
                    std::vector<double>& latencies);

  // The statement has returned: the in-flight rule, then its subscribers are free again (those
  // asked meanwhile wait again) and the cohort's next statements start.
  void release(const std::shared_ptr<Cohort>& c, const Batch& batch, RunningStatement& statement,
               Clock::duration took, bool first);

  // Whether any subscriber the statement serves got new matcher keys after keys epoch `epoch`.
  bool keys_changed_since(const RunningStatement& statement, std::uint64_t epoch) const;

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
                         std::optional<std::uint64_t> xid, Clock::time_point decoded);

  // Flushes at `due` (or sooner if one is due sooner already): a timer whose expiry has passed
  // completes on the next turn, so the commits decoded in this turn share the flush.
  void schedule_image_flush(Clock::time_point due);

  // Pushes the written results, except those of throttled cohorts before their hold ends (they
  // stay queued); counts each cohort's pushes against its budget.
  void flush_images();

  bool write_from_image(Subscriber& s, const Transaction& txn, std::optional<FinalRows>& rows,
                        Written& written, Clock::time_point decoded);

  // ---- modes ----

  void evaluate_mode(const std::shared_ptr<Cohort>& c);

  void evaluate_all_modes();
};

}  // namespace liveql::live

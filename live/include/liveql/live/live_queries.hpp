// LiveQueries: the live-query manager. Subscribers with the same (role, multiplexed SQL text)
// share a Cohort; a statement serves up to batch_size distinct variable sets, subscribers with
// identical vars sharing one row. Results are hashed and pushed only when they change (the first
// result always); a changed result is one immutable text shared by every subscriber it goes to.
//
// Scheduling (per cohort): a subscriber that needs a fetch (its first, a matched commit, a poll
// tick) waits in the cohort's queue; a waiting subscriber asked again merges into its wait (the
// newest xid8 kept); one asked while its statement runs waits again after it. The queue is
// drained into statements of up to batch_size distinct vars, up to max_parallel_statements at
// once per cohort. A partial statement starts only when none of the cohort's is running: under
// load, commits that arrive while statements run accumulate into the next, fuller ones; and when
// requests arrived while a statement ran, the next partial statement also waits a batch window
// of four times that statement's duration (at most 50 ms and a tenth of refetch_interval). A
// cohort whose event refetches take clearly more rows per refetch_interval than a poll round
// (every subscriber read several times a second under thousands of commits/s) is throttled:
// its window doubles per interval up to refetch_interval, full statements wait it out too, so
// event mode never costs much more than polling (live/src/refetch_budget.hpp). An idle cohort
// has no window: its first request starts a statement at once. First fetches are
// batched the same way (never mixed with refetches): a connect storm costs a statement per
// batch_size new subscribers, not one each.
//
// In-flight rule (exact): while any fetch is waiting or running, the commits that touch an
// event-mode cohort's tables are kept in a log. When a statement returns, its subscribers' new
// result keys are installed in the matcher and the commits logged since the earliest request it
// serves are matched again: the subscribers they may affect under the new keys are refetched,
// nobody else. (The matcher matched them against the previous keys when they arrived.)
//
// Failures: a statement error (e.g. a session value PostgreSQL rejects) reaches only the
// subscribers whose variables caused it (a failed batch is re-run one distinct vars at a time),
// and they are removed with the error. A lost database connection (PgPool::connection_lost:
// restart, terminated backend) is nobody's error: the refetch is retried with backoff (50 ms
// doubling to 2 s) until the database answers, the subscribers staying registered; a first fetch
// gives up after about 3 s and pushes the error. A statement past the query timeout
// (kQueryTimeout) errors the subscribers of that statement only: it is neither retried nor split
// per vars, which would pay the timeout again. A statement whose subscribers have all
// unsubscribed is cancelled (PgPool::query's cancellation slot); one that still serves any
// subscriber runs to the end.
//
// Strand: everything runs on the executor given to the constructor (the live core's strand); no
// method may be called from another thread. Push callbacks are invoked on that executor, never
// from inside subscribe()/unsubscribe().
//
// Modes (mode_policy.hpp decides): kPoll: every subscriber not already fetching is asked every
// refetch_interval, on a fixed schedule (the next tick does not move by the refetch time), and
// the round's statements run in parallel. kEvent: fetched only through on_commit() /
// refetch() / refetch_all().
//
// Event mode (docs/ARCHITECTURE.md rules 2-7). A subscriber given its operation's dependencies
// (subscribe(), subscribe_tracked()) is registered in the Matcher owned here BEFORE its first
// fetch; after every fetch its result keys replace the previous ones; unsubscribe() removes it.
// A cohort's mode is re-evaluated when it is created and on set_table_modes() /
// set_event_source(); a cohort switching from poll to event is refetched once.
//
// Row images (rule 11): in a cohort whose result is one row by its key (deps::RowResult), a
// subscriber named by a commit that updates the row in its result, and waiting for no statement,
// gets the result written from the commit's new row image (deps::write_row_result) instead of a
// refetch; its next statement checks that commit's visibility.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "liveql/base/live_mode.hpp"
#include "liveql/base/result.hpp"
#include "liveql/base/row_change.hpp"
#include "liveql/compiler/catalog.hpp"

namespace liveql::compiler {
struct CompiledOperation;
}
namespace liveql::deps {
struct Dependencies;
}

namespace liveql::live {

class PgPool;
class Metrics;

using SubscriberId = std::uint64_t;

class LiveQueries {
 public:
  struct Options {
    std::size_t batch_size = 100;
    // Statements in flight per cohort; 0: half the pool's connections, at least 1.
    std::size_t max_parallel_statements = 0;
    std::chrono::milliseconds refetch_interval{1000};
    // Visibility guard (targeted refetch with an xid8): a statement whose `visible` column is
    // false is re-run after this delay, at most visibility_retries times (then pushed as is).
    std::chrono::milliseconds visibility_retry_delay{2};
    int visibility_retries = 50;
    // The mode of tables whose TableLive::mode is not set (--live-mode-default).
    LiveMode live_mode_default = LiveMode::kEvent;
  };

  // What the mode decision needs to know about one table.
  struct TableLive {
    std::optional<LiveMode> mode;  // an operator's override, else metadata; nullopt: neither
    bool replica_identity_full = false;
    // In event mode but polled for its write rate (the change feed's write-rate fallback): its
    // cohorts poll at the held period, 0.8 × refetch_interval (refetch_budget.hpp).
    bool write_fallback = false;
  };
  using TableModes = std::function<TableLive(const catalog::QualifiedName&)>;

  // A result: the `data` object as JSON text. Immutable and shared by every subscriber holding
  // the same result (one serialization per distinct result, fanned out as the same bytes).
  using ResultText = std::shared_ptr<const std::string>;
  // Called with each changed result or an error (after which the subscriber is gone: no further
  // calls).
  using Push = std::function<void(Result<ResultText>)>;

  // `pool` and `metrics` must outlive this object.
  LiveQueries(boost::asio::any_io_executor ex, PgPool& pool, Metrics& metrics, Options options);
  ~LiveQueries();  // stop()s
  LiveQueries(const LiveQueries&) = delete;
  LiveQueries& operator=(const LiveQueries&) = delete;

  // Registers a subscriber (cohort key = role + multiplexed SQL text) and fetches its first
  // result at once with a one-subscriber statement: if that fails, the subscriber gets the error
  // and never joins the cohort. An operation with static_data runs no SQL: pushed once.
  // New cohorts start in poll mode.
  SubscriberId subscribe(const compiler::CompiledOperation& op, const std::string& role, Push push);

  // Same, from given multiplexed SQL (params $1::bigint[] ids, $2::json[] vars, optionally
  // $3::xid8; rows id, data, keys[, visible]). For tests and tools, and what subscribe() uses.
  SubscriberId subscribe_sql(std::string sql, const std::string& role, std::string root_field,
                             const boost::json::object& vars, Push push);

  // subscribe_sql() with the operation's dependencies, registered in the matcher before the
  // first fetch. `dependencies` is called only when the cohort is new (cached per cohort); it may
  // return nullptr (then the cohort polls).
  SubscriberId subscribe_tracked(
      std::string sql, const std::string& role, std::string root_field,
      const boost::json::object& vars, Push push,
      const std::function<std::shared_ptr<const deps::Dependencies>()>& dependencies);

  // A streaming subscription (compiler::LivePlan::stream_cursor_key non-empty): subscribe_tracked()
  // whose cohort streams. Each subscriber has its own cursor, vars[cursor_key]: every non-empty
  // batch is pushed (empty ones never, the first included) and moves the cursor to the batch's
  // last row (stream_cursor); a full batch (stream_full) fetches the next at once. Subscribers at
  // the same cursor share a statement row like equal vars of a live query. Matching (event mode)
  // uses the subscriber's current cursor, so only commits with rows past it refetch.
  SubscriberId subscribe_stream(
      std::string sql, const std::string& role, std::string root_field,
      const boost::json::object& vars, std::string cursor_key, Push push,
      const std::function<std::shared_ptr<const deps::Dependencies>()>& dependencies);

  // A subscriber whose result needs no SQL: `data` is pushed once (on the executor); it stays
  // registered, with nothing more to push, until unsubscribe().
  SubscriberId subscribe_static(std::string data, Push push);

  // After it returns, push is never called again for `id`. Unknown ids are ignored.
  void unsubscribe(SubscriberId id);

  // Targeted refetch of these subscribers (see "Scheduling"). With xid8, the statement also
  // checks that the transaction is visible to its snapshot and re-runs when not.
  void refetch(const std::vector<SubscriberId>& ids, std::optional<std::uint64_t> xid8);

  // The change feed's one call per committed transaction (in commit order): refetches the
  // event-mode subscribers it may affect (the matcher's answer, and every subscriber of a cohort
  // forced to event mode on a changed table) with xid8, and keeps it for the in-flight rule
  // while fetches are pending. A subscriber whose result the commit's row image writes (rule 11:
  // one row by its key, already in its result; no statement waiting for it) gets it pushed from
  // the image instead.
  // Returns the number of subscribers named (refetched or written). Poll-mode cohorts are
  // never named: their timer covers them (a commit whose tables no event cohort reads is not
  // even matched).
  std::size_t on_commit(Transaction txn, std::optional<std::uint64_t> xid8);

  // A full refetch of every cohort (after a replication gap).
  void refetch_all();

  // Event mode inputs; each call re-evaluates every cohort's mode. Until set_event_source(true)
  // every cohort polls ("replication not connected").
  void set_table_modes(TableModes modes);
  void set_event_source(bool available, std::string reason);
  bool event_source_available() const;
  // The TimeZone the replication session prints timestamptz values in (StreamEvent::time_zone,
  // at every connect): rule 11 writes a result showing one only while it is the pool's.
  void set_image_time_zone(std::string zone);
  // Options::live_mode_default.
  LiveMode default_mode() const;

  // What the write-rate fallback (the change feed) weighs, per table ("schema.table") some
  // cohort with subscribers reads.
  struct TableLoad {
    std::size_t event_cohorts = 0;  // in event mode
    std::size_t held_cohorts = 0;   // of those, held by their budget at the held period
    std::size_t subscribers = 0;    // of every cohort reading it, any mode
  };
  std::map<std::string, TableLoad> table_loads() const;

  // Switches the cohort of `id` (every subscriber sharing it) to `mode`, with a reason shown in
  // cohorts_json(). Poll mode (re)starts its timer; event mode cancels it.
  void set_mode(SubscriberId id, LiveMode mode, std::string reason);

  // What subscribe_tracked() would do with (sql, role) now, without subscribing (the console's
  // Analyze): the cohort it would join, with that cohort's mode and reason; or, for a new
  // cohort, the mode decide_mode() gives `deps` (null: unknown, poll) under the current inputs.
  struct CohortPreview {
    std::optional<std::uint64_t> cohort;  // the cohort it would join; nullopt: a new one
    std::size_t subscribers = 0;          // the joined cohort's subscribers
    LiveMode mode = LiveMode::kPoll;
    std::string reason;
    std::vector<std::string> forced_tables;  // event mode: intractable tables forced to event
  };
  CohortPreview preview(const std::string& sql, const std::string& role,
                        const deps::Dependencies* deps) const;

  // The subscriber's last result keys (JSON text, see sql.hpp), or nullptr if unknown or not
  // yet fetched. Valid until the next call into this object.
  const std::string* last_keys(SubscriberId id) const;

  std::size_t subscriber_count() const;
  std::size_t cohort_count() const;

  // [{id, kind ("live" or "stream"), role, root_field, mode, mode_reason, subscribers,
  // distinct_variables, refetches,
  //   statements, row_images, last_refetch_ms, p99_refetch_ms, throttled, window_cap_ms,
  //   tables}]. A
  //   refetch is the work asked in one turn of the loop (a commit, a poll tick), done when each
  //   of its subscribers has its result (duration: last_refetch_ms); statements counts every
  //   statement, first fetches included; row_images counts results written from a commit's
  //   row image (rule 11); throttled and window_cap_ms: the event budget (refetch_budget.hpp).
  boost::json::value cohorts_json() const;

  // Cancels timers and drops every subscriber without pushing. Idempotent.
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared with coroutines in flight
};

}  // namespace liveql::live

// ChangeFeed: event mode. Connects the replication stream to the live-query manager:
// committed Transaction -> LiveQueries::on_commit(txn, xid8) (match, then refetch), then records
// and acknowledges the commit's end LSN (DESIGN.md rules 2-10, "Restart safety").
//
// Strand: everything runs on the executor given to the constructor (the single io_context
// thread, server/src/app.hpp); no method may be called from another thread.
//
// Owns the ReplicationStream (config.stream: conninfo, slot name, tables filter = tracked tables;
// the tables in poll mode are excluded, see set_table_mode()).
// Uses, without owning: LiveQueries, PgPool (the xid epoch query), Metrics, and the optional
// StateStore (--state-dir). Wiring in main, after the pool, metrics and LiveQueries:
//
//   live::ChangeFeed feed(ioc.get_executor(), live, pool, metrics,
//                         {.stream = {.conninfo = url, .slot_name = slot, .tables = tracked},
//                          .store = store.get(), .schema = schema, .catalog = &catalog});
//   feed.start();  // app.health_message: feed.health_message()   ...   feed.stop();
//
// Behaviour:
//  - start(): installs the table modes (StateStore overrides > metadata live_mode >
//    --live-mode-default) into LiveQueries, reads the transaction-id epoch, then starts the
//    stream. Until the stream connects every cohort polls.
//  - kConnected: gap check against the saved SlotRecord (slot created anew, another system
//    identifier or timeline, or the slot confirmed past the record, or no record): then
//    LiveQueries::refetch_all() once, logged and counted (liveql_replication_gaps_total). Event
//    mode becomes available: cohorts switching to event are refetched once.
//  - each Transaction: matched at once (in LSN order), refetch with xid8 = the 32-bit xid widened
//    with the epoch (rule 8), then its end LSN is saved (sync) and only then acknowledged. Saves
//    are coalesced to one per save_interval (and to one at a time) and run on a thread of their
//    own, off the event loop; idle positions (on_idle_position) likewise. stop() saves the last
//    position on the calling thread, after any save in progress.
//  - the monitor runs no statement while nothing happens (idle subscribers cost nothing). It
//    reads the xid epoch reference (one statement, kReferenceSql in the .cpp) before the first
//    stream start, then again at most every lag_interval and only after something happened:
//    transactions arrived, the stream disconnected (xids may pass unseen), or the WAL moved 1 GiB
//    past the last reading (reference_wal_bytes: a bound on the xids used meanwhile by untracked
//    tables and other databases). Between readings each transaction's xid8 moves the reference
//    forward. The monitor (re)starts the stream once the reference is known, and after
//    kUnavailable. A failed query or an unreadable value is logged (once until it changes), counted
//    in liveql_errors_total, and read again after lag_interval.
//  - the write-rate fallback (write_fallback.hpp): once a second, while some table's every
//    event cohort is held by its budget or a table is in fallback, reads those tables' row
//    changes (pg_stat_user_tables) and the slot's restart_lsn lag (one statement); a table
//    falling back is left out of the stream and its cohorts poll, one coming back is streamed
//    again, as set_table_mode() does. Logged, counted (liveql_write_fallback_switches_total,
//    liveql_write_fallback_tables) and shown in tables_json().
//  - kUnavailable (wal_level, wal2json not allowed, slot of another plugin): every cohort polls;
//    health_message() says why and how to fix; the stream is retried every retry_interval and
//    event mode resumes (with one refetch) when it connects.
//  - Metrics: liveql_transactions_total, liveql_matched_subscribers_total,
//    liveql_replication_gaps_total, liveql_replication_acknowledged_lsn,
//    liveql_replication_lag_bytes (the stream's WalProgress: the server's end of WAL from
//    keepalives and XLogData, raised by the reference query's pg_current_wal_lsn(), minus the
//    slot's confirmed position; no statement of its own), liveql_replication_connected (0/1).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/json/array.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "liveql/base/live_mode.hpp"
#include "liveql/base/result.hpp"
#include "liveql/compiler/catalog.hpp"
#include "liveql/live/pg_pool.hpp"
#include "liveql/replication/stream.hpp"

namespace liveql::compiler {
class Schema;
}
namespace liveql::state {
class StateStore;
}

namespace liveql::live {

class LiveQueries;
class PgPool;
class Metrics;

class ChangeFeed {
 public:
  struct Config {
    replication::StreamConfig stream;                // start_lsn is filled from the StateStore
    state::StateStore* store = nullptr;              // optional; must outlive this object
    std::shared_ptr<const compiler::Schema> schema;  // optional: metadata live_mode per table
    const catalog::Catalog* catalog = nullptr;       // optional: REPLICA IDENTITY FULL tables
    std::chrono::milliseconds lag_interval{2000};    // the most often the xid epoch is read
    // WAL the server may write past the last xid epoch reading before it is read again, though
    // no transaction arrived (untracked tables, other databases). Every assigned xid leaves WAL: a
    // top-level one its commit or abort record, a subtransaction's at least its 4 bytes in an
    // assignment or commit record; so 1 GiB holds fewer than 2^28 xids, far inside the 2^31
    // window widen_xid needs around its reference.
    std::uint64_t reference_wal_bytes = std::uint64_t{1} << 30;
    // Coalesces StateStore syncs (a synced RocksDB write each, ~0.25 ms of CPU): an event table
    // written 50 times a second cost 50 of them a second at 20 ms. Acknowledgements go out at
    // most every 100 ms anyway (the stream's kMinFeedbackGap).
    std::chrono::milliseconds save_interval{100};
    std::chrono::milliseconds retry_interval{5000};  // restart after kUnavailable
    // The write-rate fallback (live/src/write_fallback.hpp; --write-fallback): a table whose
    // every event cohort its budget holds for `fallback_hold` is polled and left out of the
    // stream until its row changes per subscriber (over `fallback_hold`) halve, at least
    // `fallback_dwell` later. Looked at every `fallback_tick`, with a statement only while a
    // table is held or in fallback.
    bool write_fallback = true;
    std::chrono::milliseconds fallback_tick{1000};
    std::chrono::milliseconds fallback_hold{5000};
    std::chrono::milliseconds fallback_dwell{30000};
  };

  // `live`, `pool`, `metrics` must outlive this object.
  ChangeFeed(boost::asio::any_io_executor ex, LiveQueries& live, PgPool& pool, Metrics& metrics,
             Config config);
  ~ChangeFeed();  // stop()s
  ChangeFeed(const ChangeFeed&) = delete;
  ChangeFeed& operator=(const ChangeFeed&) = delete;

  // Loads the StateStore record and overrides and starts (asynchronously). Errors: an unreadable
  // store record or override list, an invalid stream configuration.
  [[nodiscard]] Status start();
  // Saves and acknowledges what was matched (and the stream's latest idle position), stops the
  // stream; cohorts fall back to polling. The stream then sends the acknowledged position to
  // PostgreSQL and closes its connection asynchronously: wait for !stream_running() before
  // leaving the event loop. Idempotent.
  void stop();

  // Operator override of a tracked table's live mode ("schema.table"), saved in the StateStore
  // (when there is one) so it survives restarts; nullopt clears it (metadata live_mode, else
  // --live-mode-default, decide again). Every cohort's mode is re-evaluated at once: cohorts
  // reading the table switch, and one switching to event mode is refetched once. Tables in poll
  // mode are left out of the stream: a change of that set first reconnects the stream (from the
  // acknowledged position), then the cohorts switch. Errors:
  // kNotFound for a table that is not tracked, the store's error when it cannot save.
  [[nodiscard]] Status set_table_mode(const std::string& table, std::optional<LiveMode> mode);
  // [{table, metadata_mode, override, mode, write_fallback, streamed, replica_identity_full}]
  // for every tracked table; `mode` is what cohorts reading it get (event or poll; a poll-only
  // reason such as an intractable predicate still applies per cohort); `write_fallback`: null,
  // or why an event table is polled for its write rate; `streamed`: its changes are decoded
  // (event mode, no fallback).
  boost::json::array tables_json() const;

  bool streaming() const;
  // True while the replication stream's task runs (also just after stop(), until its final
  // status update is sent and the connection closed).
  bool stream_running() const;
  // "" while healthy; otherwise why event mode is off and how to fix it (for /healthz).
  const std::string& health_message() const;
  // Gaps detected so far (each one cost a refetch_all()).
  std::uint64_t gaps() const;
  // The last transaction's xid8 as passed to refetch (0 before any).
  std::uint64_t last_xid8() const;

  // The 64-bit transaction id whose low 32 bits are `xid`, nearest to `reference` (a recent
  // xid8, e.g. pg_snapshot_xmax(pg_current_snapshot())): with a reference newer than the
  // transaction, an xid above the reference's low 32 bits belongs to the previous epoch.
  static std::uint64_t widen_xid(std::uint32_t xid, std::uint64_t reference);

  // The monitor's readings, from the row of its query: the xid8 reference (first column), and
  // the server's WAL position (second column; NULL, as on a standby, is nullopt). Pure. No row,
  // a missing column, a NULL reference, or text that is not an integer (an LSN) is an error value
  // (kUnexpected), which the monitor logs, counts and survives.
  static Result<std::uint64_t> read_xid_reference(const QueryResult& rows);
  static Result<std::optional<Lsn>> read_wal_lsn(const QueryResult& rows);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared with coroutines in flight
};

}  // namespace liveql::live

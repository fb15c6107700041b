// The write-rate fallback: when following a table's commits costs more than polling it, the table
// is polled (and left out of the replication stream) until its writes slow down.
//
// A cohort in event mode whose subscribers each ask for a new result more often than a poll
// round reads them is held by its budget (refetch_budget.hpp) at 0.8 × the interval: it then
// refetches about as a poll round does, yet every commit to its tables is still decoded by the
// walsender and by liveql and matched, which a poll round never pays for (docs/BENCHMARKS.md: at
// 1,000 subscribers and 10,000 commits/s, 0.08 core of liveql and 0.04 of the walsender). So a
// table whose every event cohort has been held for `hold` falls back: its cohorts poll at the
// held period (0.8 × the interval, so an update still waits less than for a round) and the
// stream leaves the table out. It rejoins the stream when its write rate per subscriber has
// fallen under `rejoin_fraction` of the rate it fell back at (or nobody reads it any more), after
// at least `dwell` in fallback; a table falling back again soon after rejoining (under twice its
// last dwell) doubles its dwell, up to `max_dwell`, so a load at the boundary does not flap.
//
// The write rate is the table's row changes (pg_stat_user_tables: n_tup_ins + n_tup_upd +
// n_tup_del, whose counts reach the view within about a second of their commits) over
// `rate_window`; it is read only for tables being held or in fallback, so an idle or
// unthrottled server runs no statement for it. Every switch reconnects the stream (from the
// acknowledged position; PostgreSQL decodes again from the slot's restart_lsn): a switch waits
// while the slot's restart_lsn is more than `max_restart_bytes` behind the WAL (a long
// transaction open), rather than decoding it again.
//
// Pure: no I/O, no clock; the change feed calls tick() once a second on the live core's thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "liveql/live/live_queries.hpp"

namespace liveql::live {

class WriteFallback {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    Clock::duration hold = std::chrono::seconds(5);
    Clock::duration rate_window = std::chrono::seconds(5);
    Clock::duration dwell = std::chrono::seconds(30);
    Clock::duration max_dwell = std::chrono::minutes(10);
    double rejoin_fraction = 0.5;
    std::uint64_t max_restart_bytes = std::uint64_t{256} << 20;
  };

  // The cohorts reading each table ("schema.table") at one tick (LiveQueries::table_loads()),
  // and the row changes so far (cumulative, pg_stat_user_tables) of the tables read for it.
  using TableLoad = LiveQueries::TableLoad;
  using Loads = std::map<std::string, TableLoad>;
  using RowChanges = std::map<std::string, std::uint64_t>;

  struct Switch {
    std::string table;
    bool fallback = false;   // true: to polling; false: back to the stream
    std::string reason;      // why (a fallback's is shown for its table and cohorts)
    bool postponed = false;  // due, but the slot's restart_lsn is too far behind: not done
  };

  explicit WriteFallback(Options options) : options_(options) {}

  // The tables whose row changes the next tick needs: held now (every event cohort) or in
  // fallback. Empty: no statement is needed.
  std::vector<std::string> watched(const Loads& loads) const;

  // `loads`: every table some cohort reads; `row_changes`: those read of the watched() ones;
  // `restart_bytes`: how far the slot's restart_lsn is behind the WAL, when known. Returns the
  // switches due now (postponed ones included, marked); the caller carries out the others.
  std::vector<Switch> tick(Clock::time_point now, const Loads& loads, const RowChanges& row_changes,
                           std::optional<std::uint64_t> restart_bytes);

  bool in_fallback(const std::string& table) const;
  std::size_t tables_in_fallback() const;
  // The reason a table in fallback is polled; empty when it is not.
  const std::string& reason(const std::string& table) const;

 private:
  struct Table {
    std::optional<Clock::time_point> held_since;
    std::deque<std::pair<Clock::time_point, std::uint64_t>> samples;  // row_changes readings
    bool fallen_back = false;
    Clock::time_point since{};
    double rate_per_subscriber = 0;  // when it fell back
    Clock::duration dwell{};
    std::optional<Clock::time_point> rejoined_at;
    std::string reason;
  };

  // Row changes a second over the last rate_window, once the samples span it.
  std::optional<double> rate(const Table& t, Clock::time_point now) const;
  bool restart_allowed(std::optional<std::uint64_t> restart_bytes) const {
    return !restart_bytes || *restart_bytes <= options_.max_restart_bytes;
  }

  Options options_;
  std::map<std::string, Table> tables_;
};

}  // namespace liveql::live

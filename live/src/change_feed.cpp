#include "liveql/live/change_feed.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <map>
#include <set>
#include <utility>

#include "liveql/compiler/compile.hpp"
#include "liveql/live/live_queries.hpp"
#include "liveql/live/metrics.hpp"
#include "liveql/live/pg_pool.hpp"
#include "liveql/replication/pg_text.hpp"
#include "liveql/state/state_store.hpp"
#include "multiplexed_statement.hpp"
#include "spawn_logged.hpp"
#include "write_fallback.hpp"

namespace liveql::live {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
using Params = std::vector<std::optional<std::string>>;
// The xid epoch reference: the next xid8 to be assigned (pg_current_xact_id() would assign one),
// and the server's WAL position, which tells the slot lag what the walsender cannot while it is
// behind (NULL on a standby, where pg_current_wal_lsn() fails).
constexpr const char* kReferenceSql =
    "select pg_snapshot_xmax(pg_current_snapshot())::text, "
    "case when pg_is_in_recovery() then null else pg_current_wal_lsn()::text end";
// The write-rate fallback's reading: each listed table's row changes so far, and how far the
// slot's restart_lsn is behind the WAL (what a reconnect decodes again).
constexpr const char* kFallbackSql =
    "select s.schemaname || '.' || s.relname, (s.n_tup_ins + s.n_tup_upd + s.n_tup_del)::text, "
    "(select case when pg_is_in_recovery() then null "
    "else (pg_current_wal_lsn() - restart_lsn)::bigint::text end "
    "from pg_replication_slots where slot_name = $2) "
    "from pg_stat_user_tables s where s.schemaname || '.' || s.relname = any($1::text[])";

std::string unavailable_hint(const std::string& message) {
  return "logical replication unavailable (" + message +
         "); live queries are polled. Event mode needs wal_level=logical (restart PostgreSQL), "
         "wal2json installed and allowed as an output plugin (PostgreSQL 15.19 and later: add it "
         "to output_plugin_libraries, e.g. ALTER SYSTEM SET output_plugin_libraries = 'pgoutput, "
         "test_decoding, wal2json'; SELECT pg_reload_conf();), max_replication_slots and "
         "max_wal_senders above 0, and a role with REPLICATION.";
}

}  // namespace

std::uint64_t ChangeFeed::widen_xid(std::uint32_t xid, std::uint64_t reference) {
  constexpr std::uint64_t kEpoch = std::uint64_t{1} << 32;
  std::uint64_t candidate = (reference & ~(kEpoch - 1)) | xid;
  if (candidate > reference && candidate - reference > kEpoch / 2 && candidate >= kEpoch) {
    candidate -= kEpoch;  // above the reference's low bits: the previous epoch
  } else if (candidate < reference && reference - candidate > kEpoch / 2) {
    candidate += kEpoch;  // the reference is older than the transaction and wrapped since
  }
  return candidate;
}

struct ChangeFeed::Impl : std::enable_shared_from_this<ChangeFeed::Impl> {
  asio::any_io_executor ex;
  LiveQueries& live;
  PgPool& pool;
  Metrics& metrics;
  Config config;
  std::unique_ptr<replication::ReplicationStream> stream;
  std::optional<state::SlotRecord> record;  // the store's, or this process's when no store
  Lsn pending_lsn = 0;                      // matched, not yet saved
  Lsn saved_lsn = 0;
  asio::steady_timer flush_timer;
  bool flush_armed = false;
  bool saving = false;  // a save runs on save_thread
  bool resave = false;  // flush() was called meanwhile: flush again when it returns
  asio::steady_timer monitor_timer;
  std::optional<std::uint64_t> xid_reference;
  Lsn reference_wal = 0;          // the server's WAL was at least here when it was read
  bool reference_wanted = false;  // something happened since: read it again
  std::string health = "replication not connected yet";
  std::uint64_t gaps = 0;
  std::uint64_t last_xid8 = 0;
  std::map<std::string, LiveMode> overrides;  // operator's, by "schema.table"
  std::set<std::string> replica_full;         // tables with REPLICA IDENTITY FULL
  bool started = false;
  bool stopped = false;
  bool unavailable = false;
  Clock::time_point unavailable_since{};
  std::string last_monitor_problem;
  WriteFallback fallback;
  asio::steady_timer fallback_timer;
  std::set<std::string> postponed_logged;  // fallback switches waiting on the slot, logged once
  // The store's synced writes (a disk sync each) run here, off the event loop. Last member:
  // destroyed first, its destructor waits for a save in progress while everything it uses lives.
  std::unique_ptr<asio::thread_pool> save_thread;

  Impl(asio::any_io_executor e, LiveQueries& l, PgPool& p, Metrics& m, Config c)
      : ex(std::move(e)),
        live(l),
        pool(p),
        metrics(m),
        config(std::move(c)),
        flush_timer(ex),
        monitor_timer(ex),
        fallback(WriteFallback::Options{.hold = config.fallback_hold,
                                        .rate_window = config.fallback_hold,
                                        .dwell = config.fallback_dwell}),
        fallback_timer(ex) {}

  // The mode a table is set to: the operator's override, else its metadata's; nullopt: neither.
  std::optional<LiveMode> table_mode(const std::string& key,
                                     const catalog::QualifiedName& table) const {
    if (auto o = overrides.find(key); o != overrides.end()) return o->second;
    if (!config.schema) return std::nullopt;
    return compiler::table_live_mode(*config.schema, table);
  }
  // The mode it is in: where it is not set, the default (--live-mode-default).
  LiveMode effective_mode(const std::string& key, const catalog::QualifiedName& table) const {
    return table_mode(key, table).value_or(live.default_mode());
  }
  // Its changes are decoded: in event mode and not polled for its write rate.
  bool streamed(const std::string& key, const catalog::QualifiedName& table) const {
    return effective_mode(key, table) == LiveMode::kEvent && !fallback.in_fallback(key);
  }

  // The tables in poll mode (override, else metadata, else the default) or polled for their
  // write rate, among the tracked ones (the catalog's tables when the stream follows every
  // table): no cohort reading one is in event mode, so the stream leaves their changes out.
  std::vector<replication::TableRef> poll_tables() const {
    std::vector<replication::TableRef> out;
    auto add_if_poll = [&](const catalog::QualifiedName& table) {
      if (!streamed(table.to_string(), table)) out.push_back({table.schema, table.name});
    };
    if (!config.stream.tables.empty()) {
      for (const auto& t : config.stream.tables) add_if_poll({t.schema, t.name});
    } else if (config.catalog) {
      for (const auto& t : config.catalog->tables) add_if_poll(t.name);
    }
    return out;
  }

  // Hands the current table modes to LiveQueries, which re-evaluates every cohort's mode.
  void install_table_modes() {
    std::weak_ptr<Impl> weak = weak_from_this();
    live.set_table_modes([weak](const catalog::QualifiedName& table) {
      LiveQueries::TableLive info;
      auto self = weak.lock();
      if (!self) return info;
      std::string key = table.to_string();
      info.mode = self->table_mode(key, table);
      info.replica_identity_full = self->replica_full.count(key) > 0;
      info.write_fallback = self->fallback.in_fallback(key);
      return info;
    });
  }

  void on_event(const replication::StreamEvent& ev) {
    using K = replication::StreamEventKind;
    if (ev.kind == K::kDisconnected) {
      // While the stream is down, xids may be used up unseen: the reconnected stream's first
      // transactions need a recent reference.
      want_reference();
      metrics.set("liveql_replication_connected", 0);
      health = "replication reconnecting: " + ev.message;
      spdlog::warn("live: replication disconnected ({}), retrying in {} ms", ev.message,
                   ev.retry_in.count());
      return;
    }
    if (ev.kind == K::kUnavailable) {
      metrics.set("liveql_replication_connected", 0);
      health = unavailable_hint(ev.message);
      unavailable = true;
      unavailable_since = Clock::now();
      spdlog::error("live: {}", health);
      live.set_event_source(false, "replication unavailable: " + ev.message);
      monitor_timer.cancel();  // schedules the retry
      return;
    }
    live.set_image_time_zone(ev.time_zone);
    // kConnected: could changes have been lost since the record was written?
    std::string gap;
    if (ev.slot_created) {
      gap = "slot " + config.stream.slot_name + " was created anew";
    } else if (!record) {
      gap = "no saved position for slot " + config.stream.slot_name;
    } else if (record->system_identifier != ev.system_identifier) {
      gap = "the database system identifier changed";
    } else if (record->timeline != ev.timeline) {
      gap = "the timeline changed";
    } else if (ev.slot_confirmed_lsn > record->confirmed_lsn) {
      gap = "the slot's confirmed position " + format_lsn(ev.slot_confirmed_lsn) +
            " is past the saved " + format_lsn(record->confirmed_lsn);
    }
    Lsn confirmed = record ? record->confirmed_lsn : 0;
    if (!gap.empty()) {
      // Positions from before the gap may belong to another system or timeline (the stream
      // dropped them too): start over from the slot's, or nothing would be saved and
      // acknowledged until the new WAL passed the old positions.
      confirmed = ev.slot_confirmed_lsn;
      saved_lsn = confirmed;
      pending_lsn = confirmed;
    }
    record = state::SlotRecord{config.stream.slot_name, ev.system_identifier, ev.timeline,
                               ev.database, confirmed};
    saved_lsn = std::max(saved_lsn, confirmed);
    if (config.store) {
      auto saved = config.store->save(*record);
      if (!saved.ok()) {
        metrics.inc("liveql_errors_total");
        spdlog::error("live: saving slot record failed: {}", saved.error().message);
      }
    }
    unavailable = false;
    health.clear();
    metrics.set("liveql_replication_connected", 1);
    spdlog::info("live: replication streaming from {} (slot {})", format_lsn(ev.start_lsn),
                 config.stream.slot_name);
    live.set_event_source(true, "");
    if (!gap.empty()) {
      ++gaps;
      metrics.inc("liveql_replication_gaps_total");
      if (live.subscriber_count() == 0) {  // a first start: nothing could be stale
        spdlog::info("live: replication starts afresh ({}); no live query to refetch", gap);
      } else {
        spdlog::warn("live: replication gap ({}): refetching every live query", gap);
      }
      live.refetch_all();
    }
  }

  void on_transaction(Transaction&& txn) {
    metrics.inc("liveql_transactions_total");
    std::optional<std::uint64_t> xid8;
    if (xid_reference) {
      last_xid8 = widen_xid(txn.xid, *xid_reference);
      xid8 = last_xid8;
      // Keeps the reference close to the stream between refreshes.
      xid_reference = std::max(*xid_reference, last_xid8);
    }
    want_reference();
    Lsn end = txn.end_lsn;
    auto named = live.on_commit(std::move(txn), xid8);
    metrics.inc("liveql_matched_subscribers_total", static_cast<double>(named));
    note_position(end);
  }

  // Everything before `lsn` is matched: save it (coalesced), then acknowledge it.
  void note_position(Lsn lsn) {
    pending_lsn = std::max(pending_lsn, lsn);
    if (!config.store) {
      flush();
      return;
    }
    if (flush_armed) return;
    flush_armed = true;
    flush_timer.expires_after(config.save_interval);
    flush_timer.async_wait([weak = weak_from_this()](boost::system::error_code) {
      if (auto self = weak.lock()) {
        self->flush_armed = false;
        if (!self->stopped) self->flush();
      }
    });
  }

  // Saves pending_lsn (on save_thread), then acknowledges it. With `wait` (stopping) the save
  // runs here, after any save in progress, so the last position saved is the newest.
  void flush(bool wait = false) {
    if (wait && saving) {  // its completion, posted or not, is dropped: saving is false
      save_thread->join();
      saving = false;
    }
    if (pending_lsn <= saved_lsn || !record || !stream) return;
    state::SlotRecord r = *record;
    r.confirmed_lsn = pending_lsn;
    if (!config.store) {
      saved(r.confirmed_lsn);
      return;
    }
    if (wait) {
      finish_save(r.confirmed_lsn, config.store->save(r));
      return;
    }
    if (saving) {
      resave = true;
      return;
    }
    saving = true;
    if (!save_thread) save_thread = std::make_unique<asio::thread_pool>(1);
    asio::post(*save_thread, [weak = weak_from_this(), store = config.store, r, ex = ex] {
      Status status = store->save(r);
      asio::post(ex, [weak, lsn = r.confirmed_lsn, status = std::move(status)]() mutable {
        auto self = weak.lock();
        if (!self || !self->saving) return;  // stopped meanwhile: flush(true) saved after it
        self->saving = false;
        self->finish_save(lsn, std::move(status));
        if (std::exchange(self->resave, false) && !self->stopped) self->flush();
      });
    });
  }

  void finish_save(Lsn lsn, Status status) {
    if (!status.ok()) {  // not acknowledged: retried with the next position
      metrics.inc("liveql_errors_total");
      spdlog::error("live: saving position {} failed: {}", format_lsn(lsn), status.error().message);
      return;
    }
    saved(lsn);
  }

  // `lsn` is durable (or there is no store): acknowledge it (Restart safety: only now).
  void saved(Lsn lsn) {
    if (lsn <= saved_lsn || !record || !stream) return;
    record->confirmed_lsn = lsn;
    saved_lsn = lsn;
    stream->acknowledge(lsn);
    metrics.set("liveql_replication_acknowledged_lsn", static_cast<double>(lsn));
  }

  void start_stream() {
    auto s = stream->start();
    if (!s.ok()) {
      health = "replication: " + s.error().message;
      spdlog::error("live: {}", health);
    }
  }

  // The stream's slot lag (the gauge), and a reference that the WAL has left far behind.
  void on_progress(const replication::WalProgress& p) {
    metrics.set("liveql_replication_lag_bytes", static_cast<double>(p.lag_bytes));
    if (xid_reference && p.server_wal_end >= reference_wal + config.reference_wal_bytes)
      want_reference();
  }

  // Asks the monitor for a fresh xid epoch reference (it reads one per lag_interval at most).
  void want_reference() {
    if (reference_wanted) return;
    reference_wanted = true;
    monitor_timer.cancel();  // the monitor recomputes when to wake
  }

  // Logs a monitor failure once until it changes (a failing read is retried every lag_interval).
  void monitor_problem(const std::string& what, const Error& error) {
    metrics.inc("liveql_errors_total");
    std::string message = what + ": " + error.message;
    if (message == last_monitor_problem) return;
    last_monitor_problem = message;
    spdlog::warn("live: {}", message);
  }

  // Reads the xid epoch reference and the server's WAL position (one statement). A failure asks
  // again.
  asio::awaitable<void> read_reference() {
    reference_wanted = false;
    const Lsn wal_before = stream->progress().server_wal_end;
    auto rows = co_await pool.query(std::string(kReferenceSql), Params{});
    if (stopped) co_return;
    auto xid = rows.ok() ? read_xid_reference(*rows) : Result<std::uint64_t>(rows.error());
    if (!xid.ok()) {
      monitor_problem("xid epoch query", xid.error());
      reference_wanted = true;
      co_return;
    }
    xid_reference = std::max<std::uint64_t>(xid_reference.value_or(0), *xid);
    auto wal = read_wal_lsn(*rows);
    if (!wal.ok()) monitor_problem("xid epoch query", wal.error());
    // The server's own position, read with the reference; else the stream's, read just before.
    reference_wal = wal.ok() && *wal ? **wal : wal_before;
    if (wal.ok() && *wal) stream->note_server_wal_end(**wal);
  }

  // The stream leaves out the tables in poll mode (or polled for their write rate): after a
  // change of that set, the stream first (reconnected from the acknowledged position, so a table
  // coming back is streamed from before the refetch its cohorts' switch starts), then the cohorts.
  void apply_table_modes() {
    if (auto excluded = poll_tables(); excluded != config.stream.excluded_tables) {
      config.stream.excluded_tables = excluded;
      if (stream) stream->set_excluded_tables(std::move(excluded));
    }
    install_table_modes();
  }

  // One look of the write-rate fallback (write_fallback.hpp): no statement unless a table is
  // held or in fallback. (GCC 12 cannot keep an initializer list across co_await: the
  // parameters are pushed one by one.)
  asio::awaitable<void> weigh_write_rates() {
    auto loads = live.table_loads();
    auto watched = fallback.watched(loads);
    std::optional<Result<QueryResult>> rows;
    if (!watched.empty()) {
      Params params;
      params.emplace_back(quoted_array_literal(watched));
      params.emplace_back(config.stream.slot_name);
      rows = co_await pool.query(std::string(kFallbackSql), std::move(params));
      if (stopped) co_return;
    }
    apply_write_rates(loads, rows);
  }

  // The fallback's tick with the statement's readings (if one ran); carries out its switches.
  void apply_write_rates(const WriteFallback::Loads& loads,
                         const std::optional<Result<QueryResult>>& rows) {
    WriteFallback::RowChanges row_changes;
    std::optional<std::uint64_t> restart_bytes;
    if (rows && !rows->ok()) monitor_problem("write-rate query", rows->error());
    if (rows && rows->ok()) {
      for (const auto& row : (*rows)->rows) {
        if (row.size() < 3 || !row[0] || !row[1]) continue;
        auto n = replication::parse_pg_integer<std::uint64_t>(*row[1], "row changes");
        if (n.ok()) row_changes[*row[0]] = *n;
        if (!row[2]) continue;
        auto r = replication::parse_pg_integer<std::uint64_t>(*row[2], "restart lag");
        if (r.ok()) restart_bytes = *r;
      }
    }
    bool changed = false;
    for (const auto& s : fallback.tick(Clock::now(), loads, row_changes, restart_bytes)) {
      if (s.postponed) {
        if (postponed_logged.insert(s.table).second) {
          spdlog::warn(
              "live: table {} would {} ({}), but the slot's restart_lsn is {} MB behind: a "
              "reconnect would decode that again; waiting",
              s.table, s.fallback ? "be polled for its write rate" : "be streamed again", s.reason,
              restart_bytes.value_or(0) >> 20);
        }
        continue;
      }
      postponed_logged.erase(s.table);
      changed = true;
      metrics.inc("liveql_write_fallback_switches_total");
      if (s.fallback) {
        spdlog::warn("live: table {}: {}", s.table, s.reason);
      } else {
        spdlog::warn("live: table {} streamed again: {}", s.table, s.reason);
      }
    }
    if (!changed) return;
    metrics.set("liveql_write_fallback_tables", static_cast<double>(fallback.tables_in_fallback()));
    apply_table_modes();
  }

  // Runs `task` on the executor; an exception ends it, logged and counted.
  void spawn(asio::awaitable<void> task, const char* what) {
    asio::co_spawn(ex, std::move(task), log_failure(shared_from_this(), metrics, what));
  }

  static asio::awaitable<void> fallback_loop(std::shared_ptr<Impl> self) {
    while (!self->stopped) {
      self->fallback_timer.expires_after(self->config.fallback_tick);
      co_await self->fallback_timer.async_wait(kTuple);
      if (self->stopped) break;
      // Without the stream every cohort polls anyway.
      if (self->stream && self->stream->streaming()) co_await self->weigh_write_rates();
    }
  }

  // Runs no statement while nothing happens. Reads the xid epoch reference before the first
  // stream start, then again (at most every lag_interval) only once transactions arrived, the
  // stream disconnected, or the WAL moved reference_wal_bytes past it; (re)starts the stream once
  // the reference is known, and after kUnavailable every retry_interval (reading the reference
  // first when it is older than lag_interval: the stream was down). The slot lag comes from the
  // stream itself (on_progress).
  static asio::awaitable<void> monitor(std::shared_ptr<Impl> self) {
    const Config& c = self->config;
    bool launched = false;
    std::optional<Clock::time_point> last_read;
    while (!self->stopped) {
      const auto now = Clock::now();
      const bool read_allowed = !last_read || now - *last_read >= c.lag_interval;
      const bool relaunch = launched && self->unavailable && !self->stream->running() &&
                            now - self->unavailable_since >= c.retry_interval;
      if (read_allowed && (!self->xid_reference || self->reference_wanted || relaunch)) {
        last_read = now;
        co_await self->read_reference();
        if (self->stopped) break;
      }
      if (self->xid_reference && !self->stream->running() && (!launched || relaunch)) {
        launched = true;
        self->unavailable_since = now;  // a start that fails at once is retried later, not now
        self->start_stream();
      }
      auto wake = Clock::time_point::max();
      if (!self->xid_reference || self->reference_wanted) {
        wake = last_read.value_or(now) + c.lag_interval;
      }
      if (launched && self->unavailable && !self->stream->running()) {
        wake = std::min(wake, self->unavailable_since + c.retry_interval);
      }
      self->monitor_timer.expires_at(wake);
      co_await self->monitor_timer.async_wait(kTuple);
    }
  }
};

namespace {

Result<std::string_view> first_value(const QueryResult& rows) {
  if (rows.rows.empty() || rows.rows[0].empty()) {
    return make_error(ErrorCode::kUnexpected, "no row");
  }
  if (!rows.rows[0][0]) return make_error(ErrorCode::kUnexpected, "NULL");
  return std::string_view(*rows.rows[0][0]);
}

}  // namespace

Result<std::uint64_t> ChangeFeed::read_xid_reference(const QueryResult& rows) {
  auto text = first_value(rows);
  if (!text.ok()) return text.take_error();
  return replication::parse_pg_integer<std::uint64_t>(*text, "xid8");
}

Result<std::optional<Lsn>> ChangeFeed::read_wal_lsn(const QueryResult& rows) {
  if (rows.rows.empty()) return make_error(ErrorCode::kUnexpected, "no row");
  if (rows.rows[0].size() < 2) return make_error(ErrorCode::kUnexpected, "no WAL position column");
  const auto& text = rows.rows[0][1];
  if (!text) return std::optional<Lsn>();
  auto lsn = parse_lsn(*text);
  if (!lsn) {
    return make_error(ErrorCode::kUnexpected,
                      "WAL position: not an LSN: \"" + text->substr(0, 40) + "\"");
  }
  return std::optional<Lsn>(*lsn);
}

ChangeFeed::ChangeFeed(asio::any_io_executor ex, LiveQueries& live, PgPool& pool, Metrics& metrics,
                       Config config)
    : impl_(std::make_shared<Impl>(std::move(ex), live, pool, metrics, std::move(config))) {
  metrics.register_counter("liveql_transactions_total",
                           "Committed transactions decoded from the replication stream.");
  metrics.register_counter("liveql_matched_subscribers_total",
                           "Subscribers named by the matcher for decoded transactions.");
  metrics.register_counter("liveql_replication_gaps_total",
                           "Replication gaps detected (each refetched every live query).");
  metrics.register_gauge("liveql_replication_acknowledged_lsn",
                         "LSN saved and acknowledged to PostgreSQL.");
  metrics.register_gauge("liveql_replication_lag_bytes",
                         "WAL bytes between the server's end of WAL and the slot's confirmed "
                         "position, as the replication stream reports them.");
  metrics.register_gauge("liveql_replication_connected", "1 while the stream is connected.");
  metrics.register_counter("liveql_write_fallback_switches_total",
                           "Tables switched to polling for their write rate, or back.");
  metrics.register_gauge("liveql_write_fallback_tables",
                         "Tables in event mode polled for their write rate now.");
}

ChangeFeed::~ChangeFeed() { stop(); }

Status ChangeFeed::start() {
  auto& impl = *impl_;
  if (impl.started) return Ok{};
  std::map<std::string, LiveMode> overrides;
  if (impl.config.store) {
    auto loaded = impl.config.store->load(impl.config.stream.slot_name);
    if (!loaded.ok()) return loaded.error();
    impl.record = loaded.value();
    if (impl.record) {
      impl.saved_lsn = impl.record->confirmed_lsn;
      impl.config.stream.start_lsn =
          std::max(impl.config.stream.start_lsn, impl.record->confirmed_lsn);
      impl.config.stream.start_system_identifier = impl.record->system_identifier;
      impl.config.stream.start_timeline = impl.record->timeline;
    }
    auto modes = impl.config.store->table_modes();
    if (!modes.ok()) return modes.error();
    overrides = std::move(modes.value());
  }
  if (impl.config.catalog) {
    for (const auto& t : impl.config.catalog->tables) {
      if (t.replica_identity == 'f') impl.replica_full.insert(t.name.to_string());
    }
  }
  impl.overrides = std::move(overrides);
  impl.install_table_modes();
  impl.config.stream.excluded_tables = impl.poll_tables();
  std::weak_ptr<Impl> weak = impl_;
  replication::StreamCallbacks callbacks;
  callbacks.on_transaction = [weak](Transaction&& txn) {
    if (auto self = weak.lock(); self && !self->stopped) self->on_transaction(std::move(txn));
  };
  callbacks.on_event = [weak](const replication::StreamEvent& ev) {
    if (auto self = weak.lock(); self && !self->stopped) self->on_event(ev);
  };
  callbacks.on_idle_position = [weak](Lsn lsn) {
    if (auto self = weak.lock(); self && !self->stopped) self->note_position(lsn);
  };
  callbacks.on_progress = [weak](const replication::WalProgress& p) {
    if (auto self = weak.lock(); self && !self->stopped) self->on_progress(p);
  };
  impl.stream =
      std::make_unique<replication::ReplicationStream>(impl.ex, impl.config.stream, callbacks);
  impl.started = true;
  if (impl.config.write_fallback) impl.spawn(Impl::fallback_loop(impl_), "write-rate fallback");
  impl.spawn(Impl::monitor(impl_), "change feed monitor");
  return Ok{};
}

void ChangeFeed::stop() {
  auto& impl = *impl_;
  if (impl.stopped) return;
  if (impl.stream) {
    // Idle positions (keepalives, transactions of untracked tables) seen since the last status
    // tick: saved and acknowledged too, so a stopped liveql leaves the slot where it stopped
    // reading rather than at its last relevant commit.
    impl.pending_lsn = std::max(impl.pending_lsn, impl.stream->usable_idle_lsn());
  }
  impl.flush(true);  // every matched transaction: saved, then acknowledged
  impl.stopped = true;
  impl.flush_timer.cancel();
  impl.monitor_timer.cancel();
  impl.fallback_timer.cancel();
  if (impl.stream) impl.stream->stop();
  impl.metrics.set("liveql_replication_connected", 0);
  if (impl.started) impl.live.set_event_source(false, "change feed stopped");
}

Status ChangeFeed::set_table_mode(const std::string& table, std::optional<LiveMode> mode) {
  auto& impl = *impl_;
  bool tracked = false;
  for (const auto& t : impl.config.stream.tables) tracked |= t.schema + "." + t.name == table;
  if (!tracked) return make_error(ErrorCode::kNotFound, "table \"" + table + "\" is not tracked");
  if (impl.config.store) {
    auto saved = mode ? impl.config.store->set_table_mode(table, *mode)
                      : impl.config.store->clear_table_mode(table);
    if (!saved.ok()) return saved;
  }
  if (mode) {
    impl.overrides[table] = *mode;
  } else {
    impl.overrides.erase(table);
  }
  spdlog::info("live: table {} live mode set to {}", table,
               mode ? live_mode_name(*mode) : "its metadata default");
  impl.apply_table_modes();
  return Ok{};
}

boost::json::array ChangeFeed::tables_json() const {
  const auto& impl = *impl_;
  boost::json::array out;
  auto name = [](std::optional<LiveMode> m) { return m ? live_mode_name(*m) : "default"; };
  for (const auto& t : impl.config.stream.tables) {
    catalog::QualifiedName table{t.schema, t.name};
    std::string key = t.schema + "." + t.name;
    auto metadata_mode =
        impl.config.schema ? compiler::table_live_mode(*impl.config.schema, table) : std::nullopt;
    auto o = impl.overrides.find(key);
    out.push_back(boost::json::object{
        {"table", key},
        {"metadata_mode", name(metadata_mode)},
        {"override", o == impl.overrides.end() ? boost::json::value(nullptr)
                                               : boost::json::value(live_mode_name(o->second))},
        {"mode", live_mode_name(impl.effective_mode(key, table))},
        {"write_fallback",
         impl.effective_mode(key, table) == LiveMode::kEvent && impl.fallback.in_fallback(key)
             ? boost::json::value(impl.fallback.reason(key))
             : boost::json::value(nullptr)},
        {"streamed", impl.streamed(key, table)},
        {"replica_identity_full", impl.replica_full.count(key) > 0},
    });
  }
  return out;
}

bool ChangeFeed::streaming() const { return impl_->stream && impl_->stream->streaming(); }
bool ChangeFeed::stream_running() const { return impl_->stream && impl_->stream->running(); }
const std::string& ChangeFeed::health_message() const { return impl_->health; }
std::uint64_t ChangeFeed::gaps() const { return impl_->gaps; }
std::uint64_t ChangeFeed::last_xid8() const { return impl_->last_xid8; }

}  // namespace liveql::live

#include "liveql/replication/stream.hpp"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>

#include "liveql/replication/copy_message.hpp"
#include "liveql/replication/pg_text.hpp"
#include "liveql/replication/wal2json_decoder.hpp"

namespace liveql::replication {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Feedback is sent this soon after the flushed position moves, so acknowledgements reach the
// slot promptly without one message per transaction.
constexpr milliseconds kMinFeedbackGap{100};
// Idle positions go to on_idle_position at most this often between status ticks (each costs the
// consumer a synced save): a stream of transactions that carry nothing for us (tables left out,
// in poll mode or untracked) keeps the slot within about a second of the WAL.
constexpr milliseconds kIdleHandoverGap{1'000};
// The longest the stream loop keeps the executor while its socket never runs dry (commits
// arriving faster than they are decoded): then it yields, so the rest of the live core
// (statements returning, pushes, timers) runs between its reads.
constexpr milliseconds kMaxSlice{2};
// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
constexpr int64_t kPgEpochOffsetMicros = 946'684'800'000'000LL;

Error pg_error(std::string message) {
  return make_error(ErrorCode::kPostgresError, std::move(message), "$");
}

void write_be64(char* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<char>(v & 0xFF);
    v >>= 8;
  }
}

int64_t pg_now_micros() {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  return us - kPgEpochOffsetMicros;
}

bool valid_slot_name(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// wal2json's add-tables list: "schema.table,..." with `\` escaping its separators.
std::string wal2json_table(const TableRef& t) {
  auto esc = [](const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == ',' || c == '.' || c == '*' || c == '\\' || c == ' ') out += '\\';
      out += c;
    }
    return out;
  };
  return esc(t.schema) + "." + esc(t.name);
}

std::string quote_literal(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

// How a session ended.
struct SessionEnd {
  Error error;
  bool unavailable = false;  // retrying cannot help
  bool streamed = false;     // reached COPY mode (resets the backoff)
};

constexpr const char* kPluginHint =
    "; logical replication is unavailable, so liveql polls every live query. To enable it, add "
    "wal2json to output_plugin_libraries (PostgreSQL 15.19+; a reload is enough), e.g. "
    "output_plugin_libraries = 'pgoutput, test_decoding, wal2json'";

// Errors no reconnect can fix.
bool is_unavailable(const std::string& message) {
  return message.find("may not be used as an output plugin") != std::string::npos ||
         message.find("could not access file \"wal2json\"") != std::string::npos ||
         message.find("wal_level") != std::string::npos ||
         message.find("must be superuser or replication role") != std::string::npos ||
         message.find("permission denied to start WAL sender") != std::string::npos ||
         message.find("permission denied to create replication slot") != std::string::npos;
}

std::string unavailable_message(const std::string& message) {
  if (message.find("output plugin") != std::string::npos ||
      message.find("wal2json") != std::string::npos)
    return message + kPluginHint;
  return message + "; logical replication is unavailable, so liveql polls every live query";
}

}  // namespace

struct ReplicationStream::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::any_io_executor ex, StreamConfig c, StreamCallbacks cb)
      : executor(ex), config(std::move(c)), callbacks(std::move(cb)), timer(ex), socket(ex) {}
  ~Impl() { close_connection(); }

  asio::any_io_executor executor;
  StreamConfig config;
  StreamCallbacks callbacks;
  asio::steady_timer timer;  // backoff and wait deadlines
  // libpq's socket, duplicated, is registered with the reactor only while wait_socket waits on
  // it: Asio registers a descriptor edge-triggered for input for as long as it is assigned, and
  // the walsender sends every commit as it decodes it, so a socket registered throughout woke the
  // loop for every message, pausing between reads or not (11,000 wake-ups a second at 10,000
  // commits/s).
  asio::posix::stream_descriptor socket;
  int socket_fd = -1;  // libpq's descriptor
  int watch_fd = -1;   // its duplicate, which `socket` takes while waiting
  PGconn* conn = nullptr;
  Wal2JsonDecoder decoder;

  bool running = false;
  bool stop_requested = false;
  bool restart_requested = false;  // set_excluded_tables(): reconnect with the new options
  bool streaming = false;

  Lsn received = 0;
  Lsn acked = 0;
  Lsn delivered_end = 0;  // end_lsn of the last delivered transaction
  Lsn usable_idle = 0;    // idle position with every earlier delivery acknowledged
  std::optional<std::pair<Lsn, Lsn>> pending_idle;  // (position, delivered_end when seen)
  Lsn flushed_sent = 0;
  Lsn server_end = 0;            // progress().server_wal_end
  Lsn slot_confirmed = 0;        // progress().slot_confirmed_lsn
  WalProgress reported;          // the last progress given to on_progress
  std::string positions_system;  // where the positions above were taken
  uint32_t positions_timeline = 0;
  bool reply_requested = false;
  Clock::time_point last_feedback{};
  Clock::time_point last_receive{};
  Clock::time_point last_read{};   // when the stream loop last read the socket (read_interval)
  Clock::time_point last_yield{};  // when the stream loop last let the executor run others
  Clock::time_point last_idle_handover{};  // on_idle_position's last call
  StreamStats stats;

  // ---- positions ----

  // Positions taken on another system or timeline would skip (or never acknowledge) changes of
  // this one: drop them, so streaming starts at the slot's confirmed position.
  void forget_foreign_positions(const std::string& system, uint32_t timeline) {
    if (positions_system.empty()) positions_system = config.start_system_identifier;
    if (positions_timeline == 0) positions_timeline = config.start_timeline;
    bool foreign = (!positions_system.empty() && positions_system != system) ||
                   (positions_timeline != 0 && positions_timeline != timeline);
    if (foreign) {
      spdlog::warn(
          "replication: positions were taken on system {} timeline {}, the server is system {} "
          "timeline {}: starting at the slot's position",
          positions_system, positions_timeline, system, timeline);
      config.start_lsn = 0;
      received = 0;
      acked = 0;
      delivered_end = 0;
      usable_idle = 0;
      pending_idle.reset();
      flushed_sent = 0;
      server_end = 0;
      slot_confirmed = 0;
    }
    positions_system = system;
    positions_timeline = timeline;
  }

  void note_idle(Lsn position) {
    if (delivered_end <= acked) {
      usable_idle = std::max(usable_idle, position);
    } else if (!pending_idle || pending_idle->first < position) {
      // Replacing an older pending position only delays it: the newer one covers it.
      pending_idle = std::make_pair(position, delivered_end);
    }
  }

  void acknowledge(Lsn lsn) {
    if (lsn <= acked) return;
    acked = lsn;
    if (pending_idle && pending_idle->second <= acked) {
      usable_idle = std::max(usable_idle, pending_idle->first);
      pending_idle.reset();
    }
    if (streaming && flush_position() > flushed_sent) timer.cancel();  // wake the loop
  }

  WalProgress progress() const {
    WalProgress p{server_end, slot_confirmed, 0};
    if (slot_confirmed != 0 && server_end > slot_confirmed)
      p.lag_bytes = server_end - slot_confirmed;
    return p;
  }

  void report_progress() {
    WalProgress p = progress();
    if (p == reported) return;
    reported = p;
    if (callbacks.on_progress && !stop_requested) callbacks.on_progress(p);
  }

  Lsn flush_position() const {
    return callbacks.on_idle_position ? acked : std::max(acked, usable_idle);
  }

  // ---- connection ----

  void close_connection() {
    streaming = false;
    if (watch_fd >= 0) ::close(watch_fd);
    watch_fd = -1;
    socket_fd = -1;
    if (conn) {
      PQfinish(conn);
      conn = nullptr;
    }
  }

  std::string conn_error() const {
    std::string m = conn ? PQerrorMessage(conn) : "out of memory";
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    return m;
  }

  // Ends the wait in progress, if any (the loop then looks at stop_requested and
  // restart_requested).
  void wake() {
    timer.cancel();
    if (socket.is_open()) {
      boost::system::error_code ignored;
      socket.cancel(ignored);
    }
  }

  // Duplicates libpq's socket again when it changed (or always, during connect, when libpq may
  // have replaced its socket under the same number).
  Status attach_socket(bool force) {
    int fd = PQsocket(conn);
    if (fd < 0) return pg_error("replication connection has no socket");
    if (watch_fd >= 0 && fd == socket_fd && !force) return Ok{};
    if (watch_fd >= 0) ::close(watch_fd);
    watch_fd = ::dup(fd);
    if (watch_fd < 0) return pg_error("dup() of the replication socket failed");
    socket_fd = fd;
    return Ok{};
  }

  // Waits until the socket is readable and/or writable or `deadline` passes (or stop()).
  // Readiness is checked with poll() first: Asio's reactor is edge-triggered and libpq may have
  // left data in the kernel buffer that no new edge will announce.
  asio::awaitable<void> wait_socket(bool read, bool write, Clock::time_point deadline) {
    pollfd p{socket_fd, static_cast<short>((read ? POLLIN : 0) | (write ? POLLOUT : 0)), 0};
    if (::poll(&p, 1, 0) > 0) co_return;
    if (stop_requested || watch_fd < 0) co_return;
    struct Yielded {  // every way on from here waits
      Clock::time_point& at;
      ~Yielded() { at = Clock::now(); }
    } yielded{last_yield};
    boost::system::error_code ec;
    socket.assign(watch_fd, ec);
    if (ec) {
      spdlog::warn("replication: cannot watch the socket ({}): polling it", ec.message());
      timer.expires_at(std::min(deadline, Clock::now() + config.read_interval));
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      co_return;
    }
    struct Unwatch {
      asio::posix::stream_descriptor& s;
      ~Unwatch() { s.release(); }
    } unwatch{socket};
    timer.expires_at(deadline);
    using asio::experimental::make_parallel_group;
    using asio::experimental::wait_for_one;
    if (read && write) {
      co_await make_parallel_group(
          socket.async_wait(asio::posix::stream_descriptor::wait_read, asio::deferred),
          socket.async_wait(asio::posix::stream_descriptor::wait_write, asio::deferred),
          timer.async_wait(asio::deferred))
          .async_wait(wait_for_one(), asio::use_awaitable);
    } else {
      co_await make_parallel_group(
          socket.async_wait(read ? asio::posix::stream_descriptor::wait_read
                                 : asio::posix::stream_descriptor::wait_write,
                            asio::deferred),
          timer.async_wait(asio::deferred))
          .async_wait(wait_for_one(), asio::use_awaitable);
    }
  }

  asio::awaitable<Status> connect() {
    const char* keys[] = {"dbname", "replication", "fallback_application_name", nullptr};
    const char* values[] = {config.conninfo.c_str(), "database", "liveql-replication", nullptr};
    conn = PQconnectStartParams(keys, values, 1);
    if (!conn || PQstatus(conn) == CONNECTION_BAD)
      co_return pg_error("replication connection failed: " + conn_error());
    if (PQsetnonblocking(conn, 1) != 0)
      co_return pg_error("cannot make the replication connection non-blocking: " + conn_error());
    const auto deadline = Clock::now() + config.connect_timeout;
    PostgresPollingStatusType poll_status = PGRES_POLLING_WRITING;
    for (;;) {
      if (stop_requested) co_return pg_error("stopped");
      if (poll_status == PGRES_POLLING_OK) break;
      if (poll_status == PGRES_POLLING_FAILED)
        co_return pg_error("replication connection failed: " + conn_error());
      if (auto st = attach_socket(true); !st.ok()) co_return st;
      co_await wait_socket(poll_status == PGRES_POLLING_READING,
                           poll_status == PGRES_POLLING_WRITING, deadline);
      if (Clock::now() >= deadline)
        co_return pg_error(fmt::format("replication connection timed out after {} ms",
                                       config.connect_timeout.count()));
      poll_status = PQconnectPoll(conn);
    }
    if (auto st = attach_socket(true); !st.ok()) co_return st;
    co_return Ok{};
  }

  // Sends libpq's output buffer without blocking.
  asio::awaitable<Status> flush_output(Clock::time_point deadline) {
    for (;;) {
      int r = PQflush(conn);
      if (r == 0) co_return Ok{};
      if (r < 0) co_return pg_error("replication connection: " + conn_error());
      co_await wait_socket(true, true, deadline);
      if (stop_requested) co_return pg_error("stopped");
      if (Clock::now() >= deadline) co_return pg_error("replication connection: send timed out");
      if (!PQconsumeInput(conn)) co_return pg_error("replication connection: " + conn_error());
    }
  }

  // Runs one simple-protocol command; returns its (last) result. A COPY BOTH result is returned
  // as soon as it arrives (the connection is then in COPY mode).
  asio::awaitable<Result<PgResult>> exec(const std::string& sql) {
    const auto deadline = Clock::now() + config.connect_timeout;
    if (!PQsendQuery(conn, sql.c_str()))
      co_return pg_error(fmt::format("{}: {}", sql, conn_error()));
    if (auto st = co_await flush_output(deadline); !st.ok()) co_return st.take_error();
    PgResult last;
    for (;;) {
      while (PQisBusy(conn)) {
        co_await wait_socket(true, false, deadline);
        if (stop_requested) co_return pg_error("stopped");
        if (Clock::now() >= deadline) co_return pg_error(fmt::format("{}: timed out", sql));
        if (!PQconsumeInput(conn)) co_return pg_error(fmt::format("{}: {}", sql, conn_error()));
      }
      PgResult r(PQgetResult(conn));
      if (!r) break;
      auto status = PQresultStatus(r.get());
      if (status == PGRES_COPY_BOTH) co_return std::move(r);
      if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        std::string m = PQresultErrorMessage(r.get());
        while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
        // Drain the remaining results so the connection stays usable for nobody's surprise.
        while (PgResult rest{PQgetResult(conn)}) {
        }
        co_return pg_error(m);
      }
      last = std::move(r);
    }
    if (!last) co_return pg_error(fmt::format("{}: no result", sql));
    co_return std::move(last);
  }

  void emit(const StreamEvent& e) {
    if (!stop_requested && callbacks.on_event) callbacks.on_event(e);
  }

  // One connection, from connect to the first error.
  asio::awaitable<SessionEnd> session() {
    SessionEnd end;
    auto fail = [&](Error e) {
      end.unavailable = is_unavailable(e.message);
      if (end.unavailable) e.message = unavailable_message(e.message);
      end.error = std::move(e);
      return std::move(end);
    };
    if (auto st = co_await connect(); !st.ok()) co_return fail(st.take_error());

    StreamEvent connected;
    connected.kind = StreamEventKind::kConnected;
    {
      auto r = co_await exec("IDENTIFY_SYSTEM");
      if (!r.ok()) co_return fail(r.take_error());
      PGresult* res = r->get();
      if (PQntuples(res) != 1 || PQnfields(res) < 4)
        co_return fail(pg_error("IDENTIFY_SYSTEM: unexpected result shape"));
      connected.system_identifier = PQgetvalue(res, 0, 0);
      auto timeline =
          parse_pg_integer<std::uint32_t>(PQgetvalue(res, 0, 1), "IDENTIFY_SYSTEM timeline");
      if (!timeline.ok()) co_return fail(pg_error(timeline.error().message));
      connected.timeline = *timeline;
      auto xlogpos = parse_lsn(PQgetvalue(res, 0, 2));
      if (!xlogpos) co_return fail(pg_error("IDENTIFY_SYSTEM: bad xlogpos"));
      connected.server_lsn = *xlogpos;
      if (PQgetisnull(res, 0, 3))
        co_return fail(pg_error("IDENTIFY_SYSTEM: not a database connection"));
      connected.database = PQgetvalue(res, 0, 3);
    }
    if (const char* zone = PQparameterStatus(conn, "TimeZone")) connected.time_zone = zone;
    forget_foreign_positions(connected.system_identifier, connected.timeline);
    server_end = std::max(server_end, connected.server_lsn);
    {
      auto r = co_await exec("SELECT setting FROM pg_settings WHERE name = 'wal_level'");
      if (!r.ok()) co_return fail(r.take_error());
      std::string level = PQntuples(r->get()) == 1 ? PQgetvalue(r->get(), 0, 0) : "";
      if (level != "logical")
        co_return fail(pg_error(fmt::format(
            "wal_level is '{}'; logical decoding needs wal_level = logical (a restart)", level)));
    }
    {
      auto r = co_await exec(
          "SELECT plugin, database, confirmed_flush_lsn::text FROM pg_replication_slots "
          "WHERE slot_name = " +
          quote_literal(config.slot_name));
      if (!r.ok()) co_return fail(r.take_error());
      PGresult* res = r->get();
      if (PQntuples(res) == 1) {
        std::string plugin = PQgetvalue(res, 0, 0);
        std::string database = PQgetisnull(res, 0, 1) ? "" : PQgetvalue(res, 0, 1);
        if (plugin != "wal2json" || database != connected.database) {
          end.unavailable = true;
          end.error = pg_error(fmt::format(
              "replication slot \"{}\" exists for plugin '{}' in database '{}', not wal2json in "
              "'{}'; choose another --slot-name",
              config.slot_name, plugin, database, connected.database));
          co_return std::move(end);
        }
        if (!PQgetisnull(res, 0, 2)) {
          auto lsn = parse_lsn(PQgetvalue(res, 0, 2));
          if (!lsn) co_return fail(pg_error("pg_replication_slots: bad confirmed_flush_lsn"));
          connected.slot_confirmed_lsn = *lsn;
        }
      } else {
        auto created = co_await exec(fmt::format(
            "CREATE_REPLICATION_SLOT \"{}\" LOGICAL wal2json NOEXPORT_SNAPSHOT", config.slot_name));
        if (!created.ok()) co_return fail(created.take_error());
        PGresult* cres = created->get();
        if (PQntuples(cres) != 1 || PQnfields(cres) < 2)
          co_return fail(pg_error("CREATE_REPLICATION_SLOT: unexpected result shape"));
        auto lsn = parse_lsn(PQgetvalue(cres, 0, 1));
        if (!lsn) co_return fail(pg_error("CREATE_REPLICATION_SLOT: bad consistent point"));
        connected.slot_created = true;
        connected.slot_confirmed_lsn = *lsn;
      }
    }

    connected.start_lsn = std::max(config.start_lsn, flush_position());
    restart_requested = false;  // these options are the current ones
    // No "include-pk": nothing reads it (primary keys come from the catalog), and it cost ~40 of a
    // single-row update's ~290 bytes.
    std::string options =
        "\"format-version\" '2', \"include-xids\" '1', \"include-lsn\" '1', "
        "\"include-timestamp\" '1', \"include-types\" '1', \"include-transaction\" '1'";
    auto table_list = [](const std::vector<TableRef>& tables) {
      std::string list;
      for (const auto& t : tables) {
        if (!list.empty()) list += ',';
        list += wal2json_table(t);
      }
      return quote_literal(list);
    };
    if (!config.tables.empty()) options += ", \"add-tables\" " + table_list(config.tables);
    if (!config.excluded_tables.empty())
      options += ", \"filter-tables\" " + table_list(config.excluded_tables);
    {
      auto r =
          co_await exec(fmt::format("START_REPLICATION SLOT \"{}\" LOGICAL {} ({})",
                                    config.slot_name, format_lsn(connected.start_lsn), options));
      if (!r.ok()) co_return fail(r.take_error());
      if (PQresultStatus(r->get()) != PGRES_COPY_BOTH)
        co_return fail(pg_error("START_REPLICATION did not enter COPY mode"));
    }

    streaming = true;
    end.streamed = true;
    decoder.reset();
    ++stats.connects;
    last_receive = Clock::now();
    last_feedback = Clock::now();
    flushed_sent = 0;  // force the first feedback to carry our position
    slot_confirmed = connected.slot_confirmed_lsn;
    report_progress();
    emit(connected);
    if (stop_requested) co_return fail(pg_error("stopped"));

    auto st = co_await stream_loop();
    co_return fail(st.take_error());
  }

  // Returns only with an error (or when stopped, or asked to restart). After a wait, a restart
  // asked for reads nothing more: no idle position past a commit the old options left out is
  // acknowledged, so the new connection starts before it.
  asio::awaitable<Status> stream_loop() {
    const auto ending = [this]() -> std::optional<Status> {
      if (stop_requested) return pg_error("stopped");
      if (restart_requested) return pg_error("restarting: the excluded tables changed");
      return std::nullopt;
    };
    for (;;) {
      if (auto e = ending()) co_return *e;
      for (;;) {
        char* buf = nullptr;
        int n = PQgetCopyData(conn, &buf, 1);
        if (n == 0) break;
        if (n == -1) {
          PgResult r(PQgetResult(conn));
          std::string m = r ? PQresultErrorMessage(r.get()) : "";
          co_return pg_error("the server ended the replication stream" +
                             (m.empty() ? std::string() : ": " + m));
        }
        if (n < 0) co_return pg_error("replication stream: " + conn_error());
        last_receive = Clock::now();
        auto st = handle_message(buf, static_cast<size_t>(n));
        PQfreemem(buf);
        if (!st.ok()) co_return st;
        if (stop_requested) co_return pg_error("stopped");
      }
      report_progress();

      if (auto st = co_await maybe_send_feedback(); !st.ok()) co_return st;
      if (auto e = ending()) co_return *e;

      const auto now = Clock::now();
      if (now - last_receive >= config.receive_timeout)
        co_return pg_error(fmt::format("replication stream: nothing received for {} ms",
                                       config.receive_timeout.count()));
      // Under read_interval since the last read: with more data already waiting (a read takes
      // at most libpq's buffer, 16 KB) read on at once; caught up, let messages gather first.
      bool waiting = false;
      if (now - last_read < config.read_interval) {
        pollfd p{socket_fd, POLLIN, 0};
        waiting = ::poll(&p, 1, 0) > 0;
        if (!waiting) {
          timer.expires_at(std::min(last_read + config.read_interval, next_feedback_due()));
          co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));  // acknowledge() ends it
          last_yield = Clock::now();
          if (auto e = ending()) co_return *e;
        }
      }
      if (Clock::now() - last_yield >= kMaxSlice) {
        co_await asio::post(timer.get_executor(), asio::use_awaitable);
        last_yield = Clock::now();
        if (auto e = ending()) co_return *e;
      }
      if (!waiting) {
        co_await wait_socket(true, false, next_feedback_due());  // checks readiness first
        if (auto e = ending()) co_return *e;
      }
      last_read = Clock::now();
      ++stats.reads;
      if (!PQconsumeInput(conn)) co_return pg_error("replication stream: " + conn_error());
    }
  }

  Clock::time_point next_feedback_due() const {
    auto due = last_feedback + config.status_interval;
    if (flush_position() > flushed_sent) due = std::min(due, last_feedback + kMinFeedbackGap);
    if (callbacks.on_idle_position && usable_idle > acked)
      due = std::min(due, last_idle_handover + kIdleHandoverGap);
    return std::min(due, last_receive + config.receive_timeout);
  }

  Status handle_message(const char* buf, size_t n) {
    auto parsed = parse_copy_message(std::string_view(buf, n));
    if (!parsed.ok()) return parsed.take_error();
    if (auto* k = std::get_if<Keepalive>(&*parsed)) {
      received = std::max(received, k->wal_end);
      server_end = std::max(server_end, k->wal_end);
      ++stats.keepalives;
      if (!decoder.in_transaction()) note_idle(k->wal_end);
      if (k->reply_requested) reply_requested = true;
      return Ok{};
    }
    const auto& w = std::get<XLogData>(*parsed);
    received = std::max(received, w.data_start);
    server_end = std::max({server_end, w.data_start, w.wal_end});
    stats.bytes += w.payload.size();
    committed_.clear();
    if (auto st = decoder.feed(w.payload, committed_); !st.ok()) return st;
    for (auto& txn : committed_) {
      // The commit message's XLogData starts at the transaction's end.
      if (txn.end_lsn == 0) txn.end_lsn = w.data_start;
      if (txn.end_lsn <= delivered_end) continue;  // resent after a reconnect
      if (txn.changes.empty()) {
        ++stats.empty_transactions;
        note_idle(txn.end_lsn);
        continue;
      }
      delivered_end = txn.end_lsn;
      ++stats.transactions;
      stats.changes += txn.changes.size();
      if (stop_requested) return Ok{};
      callbacks.on_transaction(std::move(txn));
    }
    return Ok{};
  }

  // Queues a standby status update ('r': written = received, flushed = applied = `flush`) in
  // libpq's output buffer; false when libpq refuses it.
  bool put_feedback(Lsn flush, bool reply_requested) {
    char msg[34];
    msg[0] = 'r';
    write_be64(msg + 1, std::max(received, flush));  // written
    write_be64(msg + 9, flush);                      // flushed
    write_be64(msg + 17, flush);                     // applied
    write_be64(msg + 25, static_cast<uint64_t>(pg_now_micros()));
    msg[33] = reply_requested ? 1 : 0;
    return PQputCopyData(conn, msg, sizeof msg) == 1;
  }

  asio::awaitable<Status> maybe_send_feedback() {
    const auto now = Clock::now();
    const bool interval_due = now - last_feedback >= config.status_interval;
    if (callbacks.on_idle_position && usable_idle > acked &&
        (interval_due || reply_requested || now - last_idle_handover >= kIdleHandoverGap) &&
        !stop_requested) {
      last_idle_handover = now;
      callbacks.on_idle_position(usable_idle);  // may acknowledge() synchronously
      if (stop_requested) co_return Ok{};
    }
    const Lsn flush = flush_position();
    const bool advanced = flush > flushed_sent && now - last_feedback >= kMinFeedbackGap;
    if (!interval_due && !reply_requested && !advanced) co_return Ok{};

    // Ask for a keepalive when quiet: a dead connection is noticed within receive_timeout, and
    // the keepalive's WAL end keeps progress() fresh on an idle connection.
    if (!put_feedback(flush, now - last_receive >= config.status_interval))
      co_return pg_error("replication stream: cannot send feedback: " + conn_error());
    if (auto st = co_await flush_output(now + config.connect_timeout); !st.ok()) co_return st;
    reply_requested = false;
    last_feedback = now;
    flushed_sent = flush;
    slot_confirmed = std::max(slot_confirmed, flush);
    ++stats.feedback_sent;
    report_progress();
    co_return Ok{};
  }

  // After stop(), before the connection closes: reports the flushed position one last time, as
  // pg_recvlogical does on exit, so the slot's confirmed_flush_lsn holds every acknowledge()d
  // LSN even when stop() came within kMinFeedbackGap of the last acknowledgement. The walsender
  // reads it before the Terminate that PQfinish() sends. Bounded: a send that cannot complete
  // within ~1 s is given up (the slot then resends from its older position: at least once).
  asio::awaitable<void> send_final_feedback() {
    const Lsn flush = flush_position();
    if (!conn || flush == 0) co_return;
    if (!put_feedback(flush, false)) {
      spdlog::warn("replication: final feedback not sent: {}", conn_error());
      co_return;
    }
    constexpr milliseconds kRetry{10};
    constexpr int kAttempts = 100;
    for (int i = 0;; ++i) {
      int r = PQflush(conn);
      if (r == 0) break;
      if (r < 0 || i == kAttempts) {
        spdlog::warn("replication: final feedback not sent: {}",
                     r < 0 ? conn_error() : std::string("send timed out"));
        co_return;
      }
      timer.expires_after(kRetry);
      auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      (void)ec;
    }
    flushed_sent = flush;
    slot_confirmed = std::max(slot_confirmed, flush);
    ++stats.feedback_sent;
    spdlog::info("replication: stopped; acknowledged {} to the slot", format_lsn(flush));
  }

  asio::awaitable<void> run() {
    milliseconds backoff = config.backoff_initial;
    while (!stop_requested) {
      SessionEnd end = co_await session();
      if (stop_requested && streaming) co_await send_final_feedback();
      close_connection();
      decoder.reset();
      if (stop_requested) break;
      ++stats.disconnects;
      if (end.unavailable) {
        StreamEvent e;
        e.kind = StreamEventKind::kUnavailable;
        e.message = end.error.message;
        spdlog::error("replication: {}", e.message);
        emit(e);
        break;
      }
      const bool restart = std::exchange(restart_requested, false);  // reconnects at once
      if (end.streamed || restart) backoff = config.backoff_initial;
      StreamEvent e;
      e.kind = StreamEventKind::kDisconnected;
      e.message = end.error.message;
      e.retry_in = restart ? milliseconds(0) : backoff;
      if (restart) {
        spdlog::info("replication: {}", e.message);
      } else {
        spdlog::warn("replication: {}; reconnecting in {} ms", e.message, backoff.count());
      }
      emit(e);
      if (stop_requested) break;
      if (restart) continue;
      timer.expires_after(backoff);
      auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      (void)ec;  // cancelled by stop() or acknowledge(): the loop condition decides
      backoff = std::min(backoff * 2, config.backoff_max);
    }
    running = false;
  }

  std::vector<Transaction> committed_;
};

ReplicationStream::ReplicationStream(boost::asio::any_io_executor executor, StreamConfig config,
                                     StreamCallbacks callbacks)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(config), std::move(callbacks))) {}

ReplicationStream::~ReplicationStream() { stop(); }

Status ReplicationStream::start() {
  auto& c = impl_->config;
  if (!valid_slot_name(c.slot_name))
    return make_error(ErrorCode::kBadRequest,
                      fmt::format("invalid replication slot name '{}': use 1 to 63 characters "
                                  "among a-z, 0-9 and _",
                                  c.slot_name));
  if (c.conninfo.empty()) return make_error(ErrorCode::kBadRequest, "no database URL");
  if (!impl_->callbacks.on_transaction)
    return make_error(ErrorCode::kUnexpected, "ReplicationStream needs on_transaction");
  if (c.status_interval.count() <= 0 || c.backoff_initial.count() <= 0 ||
      c.backoff_max < c.backoff_initial)
    return make_error(ErrorCode::kBadRequest, "invalid replication timing configuration");
  if (impl_->running) return Ok{};
  impl_->running = true;
  impl_->stop_requested = false;
  impl_->restart_requested = false;
  auto self = impl_;
  boost::asio::co_spawn(
      impl_->executor, [self]() -> boost::asio::awaitable<void> { co_await self->run(); },
      [self](std::exception_ptr e) {
        self->running = false;
        self->close_connection();
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          spdlog::error("replication: stream task failed: {}", ex.what());
        } catch (...) {
          spdlog::error("replication: stream task failed");
        }
      });
  return Ok{};
}

void ReplicationStream::stop() {
  impl_->stop_requested = true;
  impl_->wake();
}

void ReplicationStream::set_excluded_tables(std::vector<TableRef> tables) {
  impl_->config.excluded_tables = std::move(tables);
  if (!impl_->running || impl_->stop_requested) return;
  impl_->restart_requested = true;
  impl_->wake();
}

bool ReplicationStream::running() const { return impl_->running; }
bool ReplicationStream::streaming() const { return impl_->streaming; }
void ReplicationStream::acknowledge(Lsn lsn) { impl_->acknowledge(lsn); }
Lsn ReplicationStream::received_lsn() const { return impl_->received; }
Lsn ReplicationStream::acknowledged_lsn() const { return impl_->acked; }
Lsn ReplicationStream::flushed_lsn() const { return impl_->flushed_sent; }
Lsn ReplicationStream::usable_idle_lsn() const { return impl_->usable_idle; }
const StreamStats& ReplicationStream::stats() const { return impl_->stats; }
WalProgress ReplicationStream::progress() const { return impl_->progress(); }

void ReplicationStream::note_server_wal_end(Lsn lsn) {
  if (lsn <= impl_->server_end) return;
  impl_->server_end = lsn;
  impl_->report_progress();
}

}  // namespace liveql::replication

#include "liveql/live/pg_pool.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <unordered_map>

namespace liveql::live {

namespace asio = boost::asio;
using asio::posix::descriptor_base;

int QueryResult::column_index(std::string_view name) const {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i] == name) return static_cast<int>(i);
  }
  return -1;
}

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr const char* kApplicationName = "liveql";

std::string trimmed(std::string message) {
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  return message;
}

Error pg_error(std::string message) {
  return make_error(ErrorCode::kPostgresError, trimmed(std::move(message)));
}

Error lost(std::string message) {
  return make_error(ErrorCode::kConnectionLost,
                    "database connection failed: " + trimmed(std::move(message)));
}

// Named, not literals: GCC 12 miscompiles a literal bound to a reference parameter of a
// coroutine (run() takes the SQL by reference).
const std::string kBegin = "BEGIN";
const std::string kCommit = "COMMIT";
const std::string kRollback = "ROLLBACK";

Error cancelled_error() { return pg_error("the statement was cancelled"); }

// PostgreSQL's message when its statement_timeout ends a statement (English messages; in another
// lc_messages only the elapsed time tells).
constexpr std::string_view kServerStatementTimeout = "canceling statement due to statement timeout";

Error timeout_error(std::chrono::milliseconds timeout) {
  return make_error(ErrorCode::kQueryTimeout, "the query exceeded the timeout of " +
                                                  std::to_string(timeout.count()) +
                                                  " ms (--query-timeout-ms)");
}

bool cancel_requested(const asio::cancellation_state& cs) {
  return cs.cancelled() != asio::cancellation_type::none;
}

// One libpq connection. `socket` watches a dup of PQsocket() so that closing it never closes
// libpq's own descriptor (PQfinish does that).
struct Conn {
  PGconn* pg = nullptr;
  std::unique_ptr<asio::posix::stream_descriptor> socket;
  Clock::time_point opened = Clock::now();
  bool discard = false;  // close instead of reusing (a cancel may be in flight, or recycled)
  // Statements prepared on this connection (query(..., prepare = true)): SQL -> name.
  std::unordered_map<std::string, std::string> prepared;

  ~Conn() {
    socket.reset();
    if (pg != nullptr) PQfinish(pg);
  }
  bool healthy() const {
    return !discard && pg != nullptr && socket != nullptr && PQstatus(pg) == CONNECTION_OK &&
           PQtransactionStatus(pg) == PQTRANS_IDLE;
  }
};

// A descriptor on a fresh dup of `fd`. Registering a descriptor reports its current readiness,
// so a wait on a fresh one never misses an edge that happened earlier.
Result<std::unique_ptr<asio::posix::stream_descriptor>> watch(asio::any_io_executor ex, int fd) {
  if (fd < 0) return pg_error("connection has no socket");
  int copy = ::dup(fd);
  if (copy < 0) return pg_error("dup() of the connection socket failed");
  auto sd = std::make_unique<asio::posix::stream_descriptor>(ex);
  boost::system::error_code ec;
  sd->assign(copy, ec);
  if (ec) {
    ::close(copy);
    return pg_error("cannot watch the connection socket: " + ec.message());
  }
  return sd;
}

// Whether `fd` is ready now. Asio's reactor is edge-triggered: bytes libpq left in the kernel
// buffer (PQconsumeInput reads at most its buffer's free space) raise no new edge, and a wait
// for writability on a socket already writable may never complete. So look before waiting.
bool ready_now(int fd, short events) {
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, 0) > 0;
}

// An idle connection has nothing to read: readable means the server sent an error (e.g.
// "terminating connection due to administrator command") and/or closed it. Consuming the input
// tells which; a connection that is still OK (a notice arrived) is kept.
// libpq takes an idle connection's FATAL message as a notice and sees the EOF only on a later
// read, so read while the socket stays readable (a few rounds at most).
bool still_alive(Conn& conn) {
  for (int round = 0; round < 8; ++round) {
    if (PQstatus(conn.pg) != CONNECTION_OK) return false;
    if (!ready_now(PQsocket(conn.pg), POLLIN)) break;
    if (PQconsumeInput(conn.pg) == 0) return false;
  }
  while (PGnotify* n = PQnotifies(conn.pg)) PQfreemem(n);
  return PQstatus(conn.pg) == CONNECTION_OK && PQisBusy(conn.pg) == 0 &&
         PQtransactionStatus(conn.pg) == PQTRANS_IDLE;
}

// A statement failed on `conn`: when the connection is gone, whatever stage it failed at (a
// send, a flush, a read that met EOF with no result, a PREPARE) it lost the connection, the
// outcome callers retry, not an error of the statement.
Error as_connection_loss(const Conn& conn, Error error) {
  if (error.code == ErrorCode::kConnectionLost || PQstatus(conn.pg) == CONNECTION_OK) return error;
  return lost(std::move(error.message));
}

// The connection itself failed (as opposed to the statement): SQLSTATE class 08 (connection
// exception), 57P01-57P03 (terminated, crash shutdown, cannot connect now).
bool connection_sqlstate(const char* state) {
  if (state == nullptr) return false;
  std::string_view s(state);
  // 08P01 (protocol violation) also answers a statement's own mistake on a healthy connection,
  // e.g. a wrong number of parameters; a connection it really broke fails PQstatus instead.
  return (s.starts_with("08") && s != "08P01") || s == "57P01" || s == "57P02" || s == "57P03";
}

// A deadline for the waits of one statement: when it passes, the pending wait on the
// connection's socket is cancelled so the statement loop can act. The handler may run after
// the statement finished (it was already queued): `active` keeps it off a socket gone since.
class Deadline {
 public:
  Deadline(asio::any_io_executor ex, asio::posix::stream_descriptor* socket)
      : timer_(std::move(ex)), shared_(std::make_shared<Shared>()) {
    shared_->socket = socket;
  }
  ~Deadline() { shared_->active = false; }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  void arm(Clock::time_point at) {
    at_ = at;
    unsigned generation = ++shared_->generation;
    timer_.expires_at(at);
    timer_.async_wait([shared = shared_, generation](boost::system::error_code ec) {
      if (ec || !shared->active || shared->generation != generation) return;
      boost::system::error_code ignored;
      shared->socket->cancel(ignored);
    });
  }
  // Also true while the loop never waited (results kept arriving): the clock decides.
  bool expired() const { return at_ && Clock::now() >= *at_; }

 private:
  struct Shared {
    bool active = true;
    unsigned generation = 0;
    asio::posix::stream_descriptor* socket = nullptr;
  };
  asio::steady_timer timer_;
  std::shared_ptr<Shared> shared_;
  std::optional<Clock::time_point> at_;
};

}  // namespace

struct PgPool::Impl {
  struct Waiter {
    explicit Waiter(asio::any_io_executor ex) : timer(ex, asio::steady_timer::time_point::max()) {}
    asio::steady_timer timer;
    std::unique_ptr<Conn> conn;  // handed over by release()
    bool may_open = false;       // a slot was freed: open a new connection
    bool failed = false;         // the pool closed
  };

  asio::any_io_executor ex;
  std::string conninfo;
  std::size_t size;
  PgPoolOptions options;
  std::vector<std::unique_ptr<Conn>> idle;
  std::size_t open = 0;
  std::size_t in_use = 0;
  // Callers waiting for a connection, FIFO per priority: background ones are served only when
  // no normal caller waits.
  std::deque<std::shared_ptr<Waiter>> waiters;
  std::deque<std::shared_ptr<Waiter>> background_waiters;
  bool closed = false;
  std::uint64_t recycled = 0;
  std::uint64_t cancelled = 0;
  std::uint64_t statements = 0;
  std::string time_zone;               // of the last connection opened
  asio::thread_pool cancel_thread{1};  // PQcancel only (see the header)

  asio::awaitable<Result<std::unique_ptr<Conn>>> connect();
  asio::awaitable<Result<std::unique_ptr<Conn>>> acquire(QueryPriority priority);

  // Normal callers first, but every kBackgroundShare-th connection handed out while both
  // queues wait goes to a background caller: background work is slowed, never starved.
  static constexpr unsigned kBackgroundShare = 4;
  unsigned handouts = 0;
  std::shared_ptr<Waiter> next_waiter() {
    bool background =
        waiters.empty() || (!background_waiters.empty() && ++handouts % kBackgroundShare == 0);
    auto& queue = background ? background_waiters : waiters;
    if (queue.empty()) return nullptr;
    auto waiter = std::move(queue.front());
    queue.pop_front();
    return waiter;
  }
  bool anyone_waiting() const { return !waiters.empty() || !background_waiters.empty(); }
  void release(std::unique_ptr<Conn> conn);
  void slot_freed();
  bool expired(const Conn& conn) const {
    return options.conn_lifetime.count() > 0 && Clock::now() - conn.opened >= options.conn_lifetime;
  }
  void send_cancel(Conn& conn);
  asio::awaitable<Result<QueryResult>> execute(std::string sql,
                                               std::vector<std::optional<std::string>> params,
                                               asio::cancellation_state cs, QueryPriority priority,
                                               const std::function<void()>& on_connection,
                                               bool prepare);
  asio::awaitable<Result<std::vector<QueryResult>>> transaction(
      std::vector<PgPool::Statement> batch, asio::cancellation_state cs, QueryPriority priority);
  // How run() sends the statement: with its text (unnamed), as a named prepared statement
  // (PQsendPrepare: `sql` is prepared under `name`), or by executing the prepared `name`.
  enum class Send { kText, kPrepare, kPrepared };
  asio::awaitable<Result<QueryResult>> run(Conn& conn, const std::string& sql,
                                           const std::vector<std::optional<std::string>>& params,
                                           const asio::cancellation_state* cs,
                                           Send send = Send::kText, std::string name = {});
};

asio::awaitable<Result<std::unique_ptr<Conn>>> PgPool::Impl::connect() {
  auto conn = std::make_unique<Conn>();
  // The conninfo's own application_name wins; otherwise operators (and tests) can tell the
  // query pool ("liveql") from the replication connection ("liveql-replication").
  const char* const keys[] = {"dbname", "fallback_application_name", nullptr};
  const char* const values[] = {conninfo.c_str(), kApplicationName, nullptr};
  conn->pg = PQconnectStartParams(keys, values, 1);
  if (conn->pg == nullptr) co_return pg_error("out of memory opening a connection");
  if (PQstatus(conn->pg) == CONNECTION_BAD) co_return lost(PQerrorMessage(conn->pg));
  // PQconnectPoll may switch sockets (several hosts, SSL retry): watch a fresh dup each round.
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  while (st != PGRES_POLLING_OK) {
    if (st == PGRES_POLLING_FAILED) co_return lost(PQerrorMessage(conn->pg));
    auto sd = watch(ex, PQsocket(conn->pg));
    if (!sd.ok()) co_return sd.take_error();
    auto [ec] = co_await (*sd)->async_wait(
        st == PGRES_POLLING_READING ? descriptor_base::wait_read : descriptor_base::wait_write,
        kTuple);
    if (ec == asio::error::operation_aborted) co_return cancelled_error();
    if (ec) co_return pg_error("waiting for the connection failed: " + ec.message());
    st = PQconnectPoll(conn->pg);
  }
  if (PQsetnonblocking(conn->pg, 1) != 0) co_return pg_error(PQerrorMessage(conn->pg));
  if (const char* zone = PQparameterStatus(conn->pg, "TimeZone")) time_zone = zone;
  auto sd = watch(ex, PQsocket(conn->pg));
  if (!sd.ok()) co_return sd.take_error();
  conn->socket = std::move(sd).value();
  if (options.query_timeout.count() > 0) {
    // A session setting rather than `options=-c ...` in the conninfo, which would replace the
    // user's own `options`. The value is a parameter like any other.
    std::vector<std::optional<std::string>> params{std::to_string(options.query_timeout.count())};
    auto set =
        co_await run(*conn, "select set_config('statement_timeout', $1, false)", params, nullptr);
    if (!set.ok()) co_return set.take_error();
  }
  co_return std::move(conn);
}

asio::awaitable<Result<std::unique_ptr<Conn>>> PgPool::Impl::acquire(QueryPriority priority) {
  if (closed) co_return pg_error("connection pool closed");
  while (!idle.empty()) {
    auto conn = std::move(idle.back());
    idle.pop_back();
    bool old = expired(*conn);
    if (old || !still_alive(*conn)) {  // too old, or terminated while it sat idle
      if (old) ++recycled;
      --open;
      continue;
    }
    ++in_use;
    co_return std::move(conn);
  }
  if (open >= size) {
    auto waiter = std::make_shared<Waiter>(ex);
    auto& queue = priority == QueryPriority::kBackground ? background_waiters : waiters;
    queue.push_back(waiter);
    co_await waiter->timer.async_wait(kTuple);
    if (waiter->conn) co_return std::move(waiter->conn);
    if (!waiter->may_open) {
      if (waiter->failed || closed) co_return pg_error("connection pool closed");
      // The caller's cancellation slot fired: leave the queue.
      std::erase(queue, waiter);
      co_return cancelled_error();
    }
    // slot_freed() already counted the slot as open and in use for us.
  } else {
    ++open;
    ++in_use;
  }
  auto conn = co_await connect();
  if (!conn.ok()) {
    --open;
    --in_use;
    slot_freed();
  }
  co_return conn;
}

void PgPool::Impl::slot_freed() {
  while (!closed && open < size && anyone_waiting()) {
    auto waiter = next_waiter();
    waiter->may_open = true;
    ++open;
    ++in_use;
    waiter->timer.cancel();
  }
}

void PgPool::Impl::release(std::unique_ptr<Conn> conn) {
  --in_use;
  bool old = expired(*conn);
  if (closed || old || !conn->healthy()) {
    if (old && !closed) ++recycled;
    conn.reset();
    --open;
    slot_freed();
    return;
  }
  if (anyone_waiting()) {
    auto waiter = next_waiter();
    waiter->conn = std::move(conn);
    ++in_use;
    waiter->timer.cancel();
    return;
  }
  idle.push_back(std::move(conn));
}

void PgPool::Impl::send_cancel(Conn& conn) {
  ++cancelled;
  std::shared_ptr<PGcancel> cancel(PQgetCancel(conn.pg), [](PGcancel* c) {
    if (c != nullptr) PQfreeCancel(c);
  });
  if (!cancel) {
    conn.discard = true;
    return;
  }
  asio::post(cancel_thread, [cancel] {
    char message[256] = {};
    if (PQcancel(cancel.get(), message, sizeof message) == 0) {
      spdlog::warn("pg pool: cancel request failed: {}", trimmed(message));
    }
  });
}

asio::awaitable<Result<QueryResult>> PgPool::Impl::run(
    Conn& conn, const std::string& sql, const std::vector<std::optional<std::string>>& params,
    const asio::cancellation_state* cs, Send send, std::string name) {
  // Why this side stopped waiting for the statement, if it did.
  enum class Stop { kNone, kTimeout, kCaller };
  Stop stop = Stop::kNone;
  bool cancel_confirmed = false;  // the server answered our cancel (SQLSTATE 57014)
  auto started = Clock::now();
  Deadline deadline(ex, conn.socket.get());
  if (options.query_timeout.count() > 0) {
    deadline.arm(started + options.query_timeout + PgPool::kCancelGrace);
  }
  auto stop_error = [&] {
    return stop == Stop::kTimeout ? timeout_error(options.query_timeout) : cancelled_error();
  };
  // Decides what an interrupted (or about to start) wait means. Returns true when the statement
  // is given up: the connection is then never reused.
  auto give_up = [&]() -> bool {
    if (stop == Stop::kNone) {
      if (cs != nullptr && cancel_requested(*cs)) {
        stop = Stop::kCaller;
        send_cancel(conn);
        deadline.arm(Clock::now() + PgPool::kCancelGrace);  // the server confirms, or we leave
        return false;
      }
      if (deadline.expired()) {
        // The server's own statement_timeout did not end it: cancel it and leave.
        stop = Stop::kTimeout;
        send_cancel(conn);
        conn.discard = true;
        return true;
      }
      return false;
    }
    if (deadline.expired()) {
      conn.discard = true;
      return true;
    }
    return false;
  };

  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  const int n = static_cast<int>(values.size());
  int sent = 0;
  switch (send) {
    case Send::kText:
      sent =
          PQsendQueryParams(conn.pg, sql.c_str(), n, nullptr, values.data(), nullptr, nullptr, 0);
      break;
    case Send::kPrepare:
      sent = PQsendPrepare(conn.pg, name.c_str(), sql.c_str(), n, nullptr);
      break;
    case Send::kPrepared:
      sent = PQsendQueryPrepared(conn.pg, name.c_str(), n, values.data(), nullptr, nullptr, 0);
      break;
  }
  if (sent == 0) co_return pg_error(PQerrorMessage(conn.pg));
  for (;;) {
    int flushed = PQflush(conn.pg);
    if (flushed < 0) co_return pg_error(PQerrorMessage(conn.pg));
    if (flushed == 0) break;
    if (deadline.expired() || (cs != nullptr && cancel_requested(*cs))) {
      stop = deadline.expired() ? Stop::kTimeout : Stop::kCaller;
      conn.discard = true;  // a partly sent statement: the connection is unusable
      co_return stop_error();
    }
    if (!ready_now(PQsocket(conn.pg), POLLOUT | POLLIN)) {
      auto [ec] = co_await conn.socket->async_wait(descriptor_base::wait_write, kTuple);
      if (ec == asio::error::operation_aborted) continue;
      if (ec) co_return pg_error("connection wait failed: " + ec.message());
    }
    if (PQconsumeInput(conn.pg) == 0) co_return pg_error(PQerrorMessage(conn.pg));
  }

  std::optional<QueryResult> out;
  std::optional<Error> error;
  for (;;) {
    // Read before waiting: bytes (or EOF) that arrived earlier raised no new edge.
    if (PQconsumeInput(conn.pg) == 0) co_return pg_error(PQerrorMessage(conn.pg));
    if (PQisBusy(conn.pg) != 0) {
      if (give_up()) co_return stop_error();
      if (ready_now(PQsocket(conn.pg), POLLIN)) continue;
      auto [ec] = co_await conn.socket->async_wait(descriptor_base::wait_read, kTuple);
      if (ec && ec != asio::error::operation_aborted) {
        co_return pg_error("connection wait failed: " + ec.message());
      }
      continue;
    }
    PGresult* res = PQgetResult(conn.pg);
    if (res == nullptr) break;
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
      if (!out && !error) {
        QueryResult qr;
        int ncols = PQnfields(res);
        int nrows = PQntuples(res);
        qr.columns.reserve(ncols);
        for (int c = 0; c < ncols; ++c) qr.columns.emplace_back(PQfname(res, c));
        qr.rows.resize(nrows);
        for (int r = 0; r < nrows; ++r) {
          auto& row = qr.rows[r];
          row.reserve(ncols);
          for (int c = 0; c < ncols; ++c) {
            if (PQgetisnull(res, r, c)) {
              row.emplace_back(std::nullopt);
            } else {
              row.emplace_back(std::string(PQgetvalue(res, r, c), PQgetlength(res, r, c)));
            }
          }
        }
        out = std::move(qr);
      }
    } else if (!error) {
      const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
      const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
      std::string message = primary != nullptr ? primary : PQresultErrorMessage(res);
      if (message.empty()) message = PQerrorMessage(conn.pg);
      bool data = state != nullptr && state[0] == '2' && state[1] == '2';
      // 57014 query_canceled: ours, the server's statement_timeout (set to ours: it ran that
      // long, or says so), or an operator's pg_cancel_backend (reported as is). The server's
      // word counts too: its timer reads the wall clock, and a VM's wall clock stepping
      // forward ends the statement before our steady clock has seen the timeout pass.
      bool canceled = state != nullptr && std::string_view(state) == "57014";
      if (canceled && stop != Stop::kNone) {
        cancel_confirmed = true;
        error = stop_error();
      } else if (canceled && options.query_timeout.count() > 0 &&
                 (Clock::now() - started >= options.query_timeout ||
                  message == kServerStatementTimeout)) {
        error = timeout_error(options.query_timeout);
      } else if (data) {
        // 22025 invalid_escape_sequence (a LIKE pattern ending in its escape): Hasura's code.
        error = make_error(
            std::string_view(state) == "22025" ? ErrorCode::kBadRequest : ErrorCode::kDataException,
            message);
      } else {
        error = connection_sqlstate(state) ? lost(message) : pg_error(message);
      }
      if (state != nullptr && error) error->sqlstate = state;
    }
    PQclear(res);
  }
  if (stop != Stop::kNone) {
    // Unless the server answered the cancel, it may still arrive and hit the next statement.
    if (!cancel_confirmed) conn.discard = true;
    co_return stop_error();
  }
  if (error) co_return std::move(*error);
  if (!out) co_return pg_error("statement returned no result");
  co_return std::move(*out);
}

asio::awaitable<Result<QueryResult>> PgPool::Impl::execute(
    std::string sql, std::vector<std::optional<std::string>> params, asio::cancellation_state cs,
    QueryPriority priority, const std::function<void()>& on_connection, bool prepare) {
  if (cancel_requested(cs)) co_return cancelled_error();
  auto conn = co_await acquire(priority);
  if (!conn.ok()) co_return conn.take_error();
  if (cancel_requested(cs)) {
    release(std::move(conn).value());
    co_return cancelled_error();
  }
  Conn& c = **conn;
  const std::string* name = nullptr;
  if (prepare) {
    if (auto it = c.prepared.find(sql); it != c.prepared.end()) {
      name = &it->second;
    } else if (c.prepared.size() < kMaxPrepared) {
      // Prepared before the snapshot matters (on_connection is called after): PREPARE takes none.
      std::string fresh = "liveql_" + std::to_string(c.prepared.size() + 1);
      auto made = co_await run(c, sql, params, &cs, Send::kPrepare, fresh);
      if (made.ok()) {
        name = &c.prepared.emplace(sql, std::move(fresh)).first->second;
      } else if (!c.healthy() || cancel_requested(cs)) {
        Error error = as_connection_loss(c, made.take_error());
        release(std::move(conn).value());
        co_return error;
      }
      // Otherwise the statement itself reports what is wrong with it, sent as text below.
    }
  }
  if (on_connection) on_connection();
  ++statements;
  auto started = Clock::now();
  // Not one `?:` with a co_await in each branch: GCC 12 destroys the chosen result twice.
  Send send = name != nullptr ? Send::kPrepared : Send::kText;
  std::string statement_name = name != nullptr ? *name : std::string();
  auto result = co_await run(c, sql, params, &cs, send, std::move(statement_name));
  if (!result.ok()) result = as_connection_loss(c, result.take_error());
  if (options.recycle_after.count() > 0 && Clock::now() - started >= options.recycle_after &&
      (*conn)->healthy()) {
    (*conn)->discard = true;
    ++recycled;
  }
  release(std::move(conn).value());
  co_return result;
}

asio::awaitable<Result<std::vector<QueryResult>>> PgPool::Impl::transaction(
    std::vector<PgPool::Statement> batch, asio::cancellation_state cs, QueryPriority priority) {
  if (cancel_requested(cs)) co_return cancelled_error();
  auto conn = co_await acquire(priority);
  if (!conn.ok()) co_return conn.take_error();
  Conn& c = **conn;
  auto started = Clock::now();
  const std::vector<std::optional<std::string>> no_params;
  std::vector<QueryResult> results;
  results.reserve(batch.size());
  std::optional<Error> error;
  ++statements;
  auto begun = co_await run(c, kBegin, no_params, &cs);
  if (!begun.ok()) error = as_connection_loss(c, begun.take_error());
  for (std::size_t i = 0; i < batch.size() && !error; ++i) {
    ++statements;
    auto result = co_await run(c, batch[i].sql, batch[i].params, &cs);
    if (!result.ok()) {
      error = as_connection_loss(c, result.take_error());
      error->statement = i;
    } else {
      results.push_back(std::move(*result));
    }
  }
  if (!error) {
    ++statements;
    // Not cancellable by the caller: a cancel racing the commit would leave its outcome unknown.
    auto committed = co_await run(c, kCommit, no_params, nullptr);
    if (!committed.ok()) {
      error = as_connection_loss(c, committed.take_error());
      if (error->code == ErrorCode::kConnectionLost) {
        error = pg_error(
            "the connection was lost during COMMIT: the transaction may or may not "
            "have been committed (" +
            error->message + ")");
      }
    }
  }
  // A failed statement leaves the transaction aborted (or, if this side gave up waiting, maybe
  // still running): roll it back, or close the connection when that cannot be confirmed
  // (release() closes any connection not idle outside a transaction).
  if (error && !c.discard && PQstatus(c.pg) == CONNECTION_OK &&
      PQtransactionStatus(c.pg) != PQTRANS_IDLE) {
    ++statements;
    auto rolled_back = co_await run(c, kRollback, no_params, nullptr);
    if (!rolled_back.ok()) c.discard = true;
  }
  if (options.recycle_after.count() > 0 && Clock::now() - started >= options.recycle_after &&
      c.healthy()) {
    c.discard = true;
    ++recycled;
  }
  release(std::move(conn).value());
  if (error) co_return std::move(*error);
  co_return results;
}

PgPool::PgPool(asio::any_io_executor ex, std::string conninfo, std::size_t size,
               PgPoolOptions options)
    : impl_(std::make_shared<Impl>()) {
  impl_->ex = std::move(ex);
  impl_->conninfo = std::move(conninfo);
  impl_->size = size == 0 ? 1 : size;
  impl_->options = options;
}

PgPool::~PgPool() { close(); }

asio::awaitable<Result<QueryResult>> PgPool::query(std::string sql,
                                                   std::vector<std::optional<std::string>> params,
                                                   QueryPriority priority,
                                                   std::function<void()> on_connection,
                                                   bool prepare) {
  auto impl = impl_;  // keeps the pool state alive across suspensions
  // Cancellation is an outcome here (an error result), not an exception: the flag is the
  // coroutine thread's, so it is put back for the caller.
  bool throw_before = co_await asio::this_coro::throw_if_cancelled();
  co_await asio::this_coro::throw_if_cancelled(false);
  asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
  auto result = co_await impl->execute(std::move(sql), std::move(params), cs, priority,
                                       on_connection, prepare);
  co_await asio::this_coro::throw_if_cancelled(throw_before);
  co_return result;
}

asio::awaitable<Result<std::vector<QueryResult>>> PgPool::transaction(
    std::vector<Statement> statements, QueryPriority priority) {
  auto impl = impl_;
  bool throw_before = co_await asio::this_coro::throw_if_cancelled();
  co_await asio::this_coro::throw_if_cancelled(false);
  asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
  auto result = co_await impl->transaction(std::move(statements), cs, priority);
  co_await asio::this_coro::throw_if_cancelled(throw_before);
  co_return result;
}

const std::string& PgPool::time_zone() const { return impl_->time_zone; }
std::size_t PgPool::size() const { return impl_->size; }
std::size_t PgPool::open() const { return impl_->open; }
std::size_t PgPool::in_use() const { return impl_->in_use; }
std::size_t PgPool::waiting() const {
  return impl_->waiters.size() + impl_->background_waiters.size();
}
std::uint64_t PgPool::recycled() const { return impl_->recycled; }
std::uint64_t PgPool::cancelled() const { return impl_->cancelled; }
std::uint64_t PgPool::statements() const { return impl_->statements; }

void PgPool::close() {
  if (impl_->closed) return;
  impl_->closed = true;
  impl_->open -= impl_->idle.size();
  impl_->idle.clear();
  auto waiters = std::move(impl_->waiters);
  impl_->waiters.clear();
  for (auto& w : impl_->background_waiters) waiters.push_back(std::move(w));
  impl_->background_waiters.clear();
  for (auto& w : waiters) {
    w->failed = true;
    w->timer.cancel();
  }
}

}  // namespace liveql::live

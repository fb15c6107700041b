// PgPool: a bounded pool of non-blocking libpq connections driven by the io_context.
//
// Strand: everything runs on the executor given to the constructor (liveql runs one io_context
// on one thread, see server/src/app.hpp); no method may be called from another thread.
// Connections open lazily, up to `size`; when all are busy, callers wait in FIFO order. A query
// never blocks the event loop: libpq is used only through PQconnectStart/PQconnectPoll,
// PQsendQueryParams and PQconsumeInput/PQisBusy/PQgetResult, waking on PQsocket() readiness.
// A connection found broken (PQstatus != CONNECTION_OK after a query) is discarded and the next
// caller opens a fresh one; an idle connection the server closed meanwhile (terminated backend,
// restart) is noticed before it is lent out and replaced, so no caller gets a stale connection.
// Connections carry application_name "liveql" unless the conninfo names one (the replication
// stream's is "liveql-replication").
//
// Guards (PgPoolOptions): every connection gets `statement_timeout` at connect (a parameterised
// set_config, not SQL rewriting); a statement the server has not answered by the timeout plus
// kCancelGrace is cancelled from this side and its connection dropped. A query() whose
// cancellation slot fires (terminal or partial) is cancelled the same way: its connection is
// reused only once the server confirmed the cancel, otherwise dropped (a cancel landing later
// would hit the next statement). Connections older than conn_lifetime, or whose statement ran
// longer than recycle_after, are closed instead of reused: a backend that planned or ran a heavy
// statement keeps much of that memory until it exits.
//
// Threads: PQcancel() is blocking (it opens its own connection to the server), so it runs on
// one private thread owned by the pool (an asio::thread_pool of size 1) that does nothing else
// and touches no pool state; the destructor joins it (waiting for a cancel in progress).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "liveql/base/result.hpp"

namespace liveql::live {

// The rows of one statement, every value in Postgres text form (nullopt = SQL NULL).
enum class QueryPriority { kNormal, kBackground };

struct QueryResult {
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;

  // Index of the column named `name`, or -1.
  int column_index(std::string_view name) const;
};

// The pool's guards; zero turns one off. The library defaults are all off; `liveql serve` passes
// its flags (--query-timeout-ms, --conn-lifetime, --conn-recycle-after-ms).
struct PgPoolOptions {
  // statement_timeout of every pool connection.
  std::chrono::milliseconds query_timeout{0};
  // A connection open longer than this is closed when it comes back (or is found idle).
  std::chrono::milliseconds conn_lifetime{0};
  // A connection whose statement ran at least this long is closed after it.
  std::chrono::milliseconds recycle_after{0};
};

class PgPool {
 public:
  // How long the server gets to answer after its own statement_timeout fired (or after a cancel
  // request) before the connection is given up.
  static constexpr std::chrono::milliseconds kCancelGrace{1000};
  // The most statements query(..., prepare = true) keeps prepared on one connection.
  static constexpr std::size_t kMaxPrepared = 256;

  // `conninfo`: a libpq connection string or URL. `size` >= 1: the most connections open at once.
  PgPool(boost::asio::any_io_executor ex, std::string conninfo, std::size_t size,
         PgPoolOptions options = {});
  ~PgPool();  // closes every connection; queries still in flight complete with an error
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;

  // Runs one statement with text parameters (bound, never inlined; nullopt = NULL) and returns
  // all its rows. Errors: SQLSTATE class 22 -> ErrorCode::kDataException, any other server
  // error -> ErrorCode::kPostgresError, with the server's message (PG_DIAG_MESSAGE_PRIMARY) and
  // Error::sqlstate. After close():
  // kPostgresError "connection pool closed". A failure of the connection itself (cannot
  // connect, terminated, server restart: SQLSTATE 08xxx, 57P01-57P03, or the connection broke)
  // is kConnectionLost: the statement may be retried. Past the query timeout: kQueryTimeout
  // "the query exceeded the timeout of N ms (--query-timeout-ms)".
  // Cancellation: the awaiting coroutine's cancellation slot (bind_cancellation_slot on the
  // co_spawn, or an awaitable operator) cancels the wait for a connection or the running
  // statement (PQcancel, see above); the result is then kPostgresError "the statement was
  // cancelled". Never throws on cancellation (the caller's throw_if_cancelled is restored).
  // Priority: while kNormal callers wait, a kBackground caller gets one connection in four
  // (poll rounds are background work; queries, first fetches and event refetches are not).
  // `on_connection` is called once a connection is lent, just before the statement is sent: the
  // statement's snapshot is taken after that moment (not called when it fails before).
  // `prepare`: the statement is prepared once per connection (a named prepared statement, up to
  // kMaxPrepared per connection; past that it is sent as text) and executed by name: for
  // statements run again and again (live refetches), which then skip parsing and planning.
  // Its result columns must not depend on the schema (a prepared statement whose result type
  // changes fails).
  boost::asio::awaitable<Result<QueryResult>> query(std::string sql,
                                                    std::vector<std::optional<std::string>> params,
                                                    QueryPriority priority = QueryPriority::kNormal,
                                                    std::function<void()> on_connection = {},
                                                    bool prepare = false);

  // One statement of a transaction(): SQL with its text parameters, as query() takes them.
  struct Statement {
    std::string sql;
    std::vector<std::optional<std::string>> params;
  };

  // Runs `statements` in order on one pooled connection, between BEGIN and COMMIT, and returns
  // each one's rows in order. The first statement that fails ends it: the transaction is rolled
  // back (nothing of it is committed) and that statement's error returned, with query()'s codes
  // and Error::statement its index.
  // A connection whose rollback is not confirmed is closed, never lent again. Timeout and
  // cancellation apply to each statement as in query(); once COMMIT is sent the caller can no
  // longer cancel it. A connection lost during COMMIT leaves the outcome unknown: that is
  // kPostgresError "the connection was lost during COMMIT ...", never kConnectionLost (whose
  // callers retry). BEGIN, COMMIT and ROLLBACK count in statements().
  boost::asio::awaitable<Result<std::vector<QueryResult>>> transaction(
      std::vector<Statement> statements, QueryPriority priority = QueryPriority::kNormal);

  // Whether `error` (from query()) is the loss of the connection rather than the statement's.
  static bool connection_lost(const Error& error) {
    return error.code == ErrorCode::kConnectionLost;
  }

  // The TimeZone PostgreSQL reported to the last connection opened (its ParameterStatus): what
  // the pool's statements print timestamptz values in. Empty before the first connection.
  const std::string& time_zone() const;

  std::size_t size() const;     // the configured maximum
  std::size_t open() const;     // connections currently open (idle + in use + connecting)
  std::size_t in_use() const;   // connections lent to a query right now
  std::size_t waiting() const;  // callers queued for a connection
  // Connections closed because of conn_lifetime or recycle_after, and statements cancelled
  // (timeout or caller), since construction.
  std::uint64_t recycled() const;
  std::uint64_t cancelled() const;
  // Statements sent to the server by query() since construction (a re-run counts again).
  std::uint64_t statements() const;

  // Closes idle connections, fails queued callers, and closes busy connections as their
  // queries finish. Idempotent.
  void close();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared with coroutines in flight
};

}  // namespace liveql::live

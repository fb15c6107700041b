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
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "liveql/base/result.hpp"

namespace liveql::live {

// The rows of one statement, every value in Postgres text form (nullopt = SQL NULL).
struct QueryResult {
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;

  // Index of the column named `name`, or -1.
  int column_index(std::string_view name) const;
};

class PgPool {
 public:
  // `conninfo`: a libpq connection string or URL. `size` >= 1: the most connections open at once.
  PgPool(boost::asio::any_io_executor ex, std::string conninfo, std::size_t size);
  ~PgPool();  // closes every connection; queries still in flight complete with an error
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;

  // Runs one statement with text parameters (bound, never inlined; nullopt = NULL) and returns
  // all its rows. Errors: SQLSTATE class 22 -> ErrorCode::kDataException, any other server or
  // connection error -> ErrorCode::kPostgresError, with the server's message. After close():
  // kPostgresError "connection pool closed". A failure of the connection itself (cannot
  // connect, terminated, server restart: SQLSTATE 08xxx, 57P01-57P03, or the connection broke)
  // is a kPostgresError for which connection_lost() is true: the statement may be retried.
  boost::asio::awaitable<Result<QueryResult>> query(std::string sql,
                                                    std::vector<std::optional<std::string>> params);

  // Whether `error` (from query()) is the loss of the connection rather than the statement's.
  static bool connection_lost(const Error& error);

  std::size_t size() const;     // the configured maximum
  std::size_t open() const;     // connections currently open (idle + in use + connecting)
  std::size_t in_use() const;   // connections lent to a query right now
  std::size_t waiting() const;  // callers queued for a connection

  // Closes idle connections, fails queued callers, and closes busy connections as their
  // queries finish. Idempotent.
  void close();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared with coroutines in flight
};

}  // namespace liveql::live

// Running statements from a session's thread: PgPool lives on the core (io_threads.hpp), so
// the statements hop to the core and their result back to the caller's executor.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>
#include <vector>

#include "app.hpp"
#include "liveql/base/result.hpp"
#include "liveql/live/pg_pool.hpp"

namespace liveql::server {

// app.pool->query(sql, params) run on app.core, resumed on the calling coroutine's executor.
// Cancelling the calling coroutine (its cancellation slot) cancels the statement on the core
// (PgPool::query's cancellation). On the core itself it calls the pool directly. `prepare`: as
// PgPool::query's (a statement clients send again and again: parsed and planned once per
// connection).
boost::asio::awaitable<Result<live::QueryResult>> query_on_core(
    App& app, std::string sql, std::vector<std::optional<std::string>> params,
    bool prepare = false);

// app.pool->transaction(statements), the same way.
boost::asio::awaitable<Result<std::vector<live::QueryResult>>> transaction_on_core(
    App& app, std::vector<live::PgPool::Statement> statements);

}  // namespace liveql::server

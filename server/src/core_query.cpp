#include "core_query.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>

namespace liveql::server {

namespace asio = boost::asio;

namespace {

// co_spawn needs a default-constructible result; Result<T> is not.
asio::awaitable<std::optional<Result<live::QueryResult>>> query_boxed(
    live::PgPool& pool, std::string sql, std::vector<std::optional<std::string>> params,
    bool prepare) {
  co_return co_await pool.query(std::move(sql), std::move(params), live::QueryPriority::kNormal, {},
                                prepare);
}

asio::awaitable<std::optional<Result<std::vector<live::QueryResult>>>> transaction_boxed(
    live::PgPool& pool, std::vector<live::PgPool::Statement> statements) {
  co_return co_await pool.transaction(std::move(statements));
}

// Runs `work` (an awaitable of std::optional<R>, made on the core's pool) on app.core and
// resumes on the caller's executor. The work's cancellation signal lives on the core and is
// shared with the forwarder in our slot, so a cancel arriving from this thread after the work
// ended is harmless.
template <typename R>
asio::awaitable<R> on_core(App& app, asio::awaitable<std::optional<R>> work) {
  auto signal = std::make_shared<asio::cancellation_signal>();
  asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
  auto slot = state.slot();
  if (slot.is_connected()) {
    slot.assign([signal, core = app.core](asio::cancellation_type type) {
      asio::post(core, [signal, type] { signal->emit(type); });
    });
  }
  auto result = co_await asio::co_spawn(
      app.core, std::move(work), asio::bind_cancellation_slot(signal->slot(), asio::use_awaitable));
  if (slot.is_connected()) slot.clear();
  co_return std::move(*result);
}

}  // namespace

asio::awaitable<Result<live::QueryResult>> query_on_core(
    App& app, std::string sql, std::vector<std::optional<std::string>> params, bool prepare) {
  auto ex = co_await asio::this_coro::executor;
  if (ex == app.core) {
    co_return co_await app.pool->query(std::move(sql), std::move(params),
                                       live::QueryPriority::kNormal, {}, prepare);
  }
  co_return co_await on_core<Result<live::QueryResult>>(
      app, query_boxed(*app.pool, std::move(sql), std::move(params), prepare));
}

asio::awaitable<Result<std::vector<live::QueryResult>>> transaction_on_core(
    App& app, std::vector<live::PgPool::Statement> statements) {
  auto ex = co_await asio::this_coro::executor;
  if (ex == app.core) co_return co_await app.pool->transaction(std::move(statements));
  co_return co_await on_core<Result<std::vector<live::QueryResult>>>(
      app, transaction_boxed(*app.pool, std::move(statements)));
}

}  // namespace liveql::server

#include "liveql/live/pg_pool.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "loop.hpp"
#include "support/test_db.hpp"

namespace liveql::live {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::run_until;
using NoParams = std::vector<std::optional<std::string>>;

class PgPoolTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { url_ = new std::string(test::fresh_database("live_pg_pool")); }
  static void TearDownTestSuite() { delete url_; }

  // Runs one query to completion on ioc_.
  Result<QueryResult> run(PgPool& pool, std::string sql,
                          std::vector<std::optional<std::string>> params = {},
                          bool prepare = false) {
    std::optional<Result<QueryResult>> out;
    asio::co_spawn(
        ioc_,
        [&]() -> asio::awaitable<void> {
          out.emplace(co_await pool.query(std::move(sql), std::move(params), QueryPriority::kNormal,
                                          {}, prepare));
        },
        testing::Rethrow{});
    EXPECT_TRUE(run_until(ioc_, [&] { return out.has_value(); }));
    if (!out) return make_error(ErrorCode::kUnexpected, "timed out");
    return std::move(*out);
  }

  static std::string* url_;
  asio::io_context ioc_;
};
std::string* PgPoolTest::url_ = nullptr;

TEST_F(PgPoolTest, SimpleQueryAndNull) {
  PgPool pool(ioc_.get_executor(), *url_, 2);
  auto r = run(pool, "select 1 as a, null::text as b, 'x' as c");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->columns, (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_EQ(r->rows.size(), 1u);
  EXPECT_EQ(r->rows[0][0], "1");
  EXPECT_EQ(r->rows[0][1], std::nullopt);
  EXPECT_EQ(r->column_index("c"), 2);
  EXPECT_EQ(pool.open(), 1u);
  EXPECT_EQ(pool.in_use(), 0u);
}

// prepare = true: prepared once per connection, executed by name with each call's parameters;
// a failing execution is an error like any other and the connection goes on; a statement that
// cannot be prepared reports its own error.
TEST_F(PgPoolTest, PreparedStatementsArePreparedOncePerConnection) {
  PgPool pool(ioc_.get_executor(), *url_, 1);
  const std::string sql = "select 10 / $1::int as q";
  auto first = run(pool, sql, {"2"}, true);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->rows.at(0).at(0), "5");
  auto second = run(pool, sql, {"5"}, true);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->rows.at(0).at(0), "2");
  auto failed = run(pool, sql, {"0"}, true);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, ErrorCode::kDataException);
  // One connection: the same backend holds exactly one such prepared statement.
  auto listed =
      run(pool, "select count(*) from pg_prepared_statements where statement = $1", {sql});
  ASSERT_TRUE(listed.ok()) << listed.error().message;
  EXPECT_EQ(listed->rows.at(0).at(0), "1");
  auto third = run(pool, sql, {"10"}, true);
  ASSERT_TRUE(third.ok()) << third.error().message;
  EXPECT_EQ(third->rows.at(0).at(0), "1");

  auto broken = run(pool, "select no_such_column from pg_class", {}, true);
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.error().code, ErrorCode::kPostgresError);
  EXPECT_NE(broken.error().message.find("no_such_column"), std::string::npos)
      << broken.error().message;
  auto after = run(pool, "select 1");
  ASSERT_TRUE(after.ok()) << after.error().message;
}

TEST_F(PgPoolTest, ConcurrentQueriesBeyondSizeQueueAndComplete) {
  PgPool pool(ioc_.get_executor(), *url_, 2);
  constexpr int kQueries = 7;
  std::vector<std::optional<Result<QueryResult>>> out(kQueries);
  std::size_t max_waiting = 0;
  std::size_t max_open = 0;
  for (int i = 0; i < kQueries; ++i) {
    asio::co_spawn(
        ioc_,
        [&, i]() -> asio::awaitable<void> {
          std::vector<std::optional<std::string>> params;
          params.emplace_back(std::to_string(i));
          out[i].emplace(
              co_await pool.query("select pg_sleep(0.05), $1::int * 10 as v", std::move(params)));
        },
        testing::Rethrow{});
  }
  auto all_done = [&] {
    max_waiting = std::max(max_waiting, pool.waiting());
    max_open = std::max(max_open, pool.open());
    for (auto& o : out) {
      if (!o) return false;
    }
    return true;
  };
  ASSERT_TRUE(run_until(ioc_, all_done));
  for (int i = 0; i < kQueries; ++i) {
    ASSERT_TRUE(out[i]->ok()) << out[i]->error().message;
    EXPECT_EQ((*out[i])->rows[0][1], std::to_string(i * 10));
  }
  EXPECT_EQ(max_open, 2u);
  EXPECT_GE(max_waiting, 4u);
  EXPECT_EQ(pool.waiting(), 0u);
  EXPECT_EQ(pool.in_use(), 0u);
}

TEST_F(PgPoolTest, SqlErrorsMapToCodes) {
  PgPool pool(ioc_.get_executor(), *url_, 1);
  auto bad_value = run(pool, "select $1::int", {"abc"});
  ASSERT_FALSE(bad_value.ok());
  EXPECT_EQ(bad_value.error().code, ErrorCode::kDataException);
  EXPECT_EQ(bad_value.error().message, "invalid input syntax for type integer: \"abc\"");

  auto div = run(pool, "select 1 / $1::int", {"0"});
  ASSERT_FALSE(div.ok());
  EXPECT_EQ(div.error().code, ErrorCode::kDataException);

  // 22025 invalid_escape_sequence: a request's bad pattern, Hasura's bad-request.
  auto escape = run(pool, "select 'ab' like $1", {"a\\"});
  ASSERT_FALSE(escape.ok());
  EXPECT_EQ(escape.error().code, ErrorCode::kBadRequest);
  EXPECT_EQ(escape.error().message, "LIKE pattern must not end with escape character");

  auto missing = run(pool, "select * from no_such_table");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kPostgresError);
  EXPECT_EQ(missing.error().message, "relation \"no_such_table\" does not exist");

  // The connection survives statement errors.
  auto ok = run(pool, "select 2");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(pool.open(), 1u);
}

// A statement sent with the wrong number of parameters gets SQLSTATE 08P01 (protocol
// violation) on a connection that stays healthy: the statement's error, never a connection loss
// (which the live core would retry forever).
TEST_F(PgPoolTest, WrongParameterCountIsTheStatementsErrorNotAConnectionLoss) {
  PgPool pool(ioc_.get_executor(), *url_, 1);
  auto r = run(pool, "select $1::int + $2::int", {"1"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kPostgresError) << r.error().message;
  EXPECT_FALSE(PgPool::connection_lost(r.error()));
  auto prepared = run(pool, "select $1::int * $2::int", {"2"}, true);
  ASSERT_FALSE(prepared.ok());
  EXPECT_FALSE(PgPool::connection_lost(prepared.error())) << prepared.error().message;
  auto ok = run(pool, "select 1");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(pool.open(), 1u);
}

TEST_F(PgPoolTest, ParamsAreBoundNotInlined) {
  PgPool pool(ioc_.get_executor(), *url_, 1);
  std::string evil = "'); select pg_sleep(10); --";
  auto r = run(pool, "select $1::text as v, $2::text is null as n", {evil, std::nullopt});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->rows[0][0], evil);
  EXPECT_EQ(r->rows[0][1], "t");
}

TEST_F(PgPoolTest, TerminatedIdleBackendIsReplacedBeforeUse) {
  PgPool pool(ioc_.get_executor(), *url_, 1);
  auto first = run(pool, "select pg_backend_pid(), current_setting('application_name')");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->rows[0][1], "liveql");  // tells the pool from liveql-replication
  std::string pid = *first->rows[0][0];
  // Waits for the backend to exit: its FATAL message and EOF are then on the idle socket.
  test::exec(*url_, "select pg_terminate_backend(" + pid + ", 10000)");
  auto second = run(pool, "select pg_backend_pid()");
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_NE(*second->rows[0][0], pid);
  EXPECT_EQ(pool.open(), 1u);
}

TEST_F(PgPoolTest, BackendTerminatedMidQueryIsAConnectionLoss) {
  PgPool pool(ioc_.get_executor(), *url_, 1);
  std::optional<Result<QueryResult>> slow;
  asio::co_spawn(
      ioc_,
      [&]() -> asio::awaitable<void> {
        slow.emplace(co_await pool.query("select pg_sleep(30) /* mid-query */", NoParams()));
      },
      testing::Rethrow{});
  auto running = [&] {
    return !test::query(*url_,
                        "select pid from pg_stat_activity where state = 'active' and query like "
                        "'%/* mid-query */%' and pid <> pg_backend_pid()")
                .empty();
  };
  ASSERT_TRUE(run_until(ioc_, running));
  test::exec(*url_,
             "select pg_terminate_backend(pid) from pg_stat_activity where query like "
             "'%/* mid-query */%' and pid <> pg_backend_pid()");
  ASSERT_TRUE(run_until(ioc_, [&] { return slow.has_value(); }));
  ASSERT_FALSE(slow->ok());
  EXPECT_EQ(slow->error().code, ErrorCode::kConnectionLost) << slow->error().message;
  EXPECT_STREQ(error_code_name(slow->error().code), "postgres-error");
  EXPECT_TRUE(PgPool::connection_lost(slow->error())) << slow->error().message;
  // A statement's own error is not a connection loss.
  auto missing = run(pool, "select * from no_such_table");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kPostgresError);
  EXPECT_FALSE(PgPool::connection_lost(missing.error()));
  auto ok = run(pool, "select 1");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
}

// A backend terminated while its connection sits idle may die between the pool's liveness check
// and the next statement (here: its PREPARE), its FATAL message and EOF arriving with no result.
// Whatever stage the statement reached, that is a connection loss, the outcome the live core
// retries: never the statement's own error (the e2e fault test once saw a refetch fail for good
// with "server closed the connection unexpectedly"). Timing decides the stage, so many rounds.
TEST_F(PgPoolTest, BackendTerminatedBeforeAPreparedStatementIsAConnectionLoss) {
  PgPool pool(ioc_.get_executor(), *url_, 1);
  int lost = 0;
  for (int round = 0; round < 200; ++round) {
    auto pid = run(pool, "select pg_backend_pid()");
    ASSERT_TRUE(pid.ok()) << pid.error().message;
    // Not waiting for the backend to exit: the next statement races its FATAL.
    test::exec(*url_, "select pg_terminate_backend(" + *pid->rows[0][0] + ")");
    // A fresh SQL text each round, so the statement is prepared on the (dying) connection.
    auto r = run(pool, "select " + std::to_string(round) + " + $1::int", {"1"}, true);
    if (r.ok()) continue;
    ++lost;
    EXPECT_EQ(r.error().code, ErrorCode::kConnectionLost)
        << "round " << round << ": " << r.error().message;
  }
  // The pool replaced the connection each time; a statement now runs.
  auto ok = run(pool, "select 1");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  std::printf("%d of 200 rounds lost the connection mid-statement\n", lost);
}

TEST_F(PgPoolTest, ConnectFailureIsAnError) {
  PgPool pool(ioc_.get_executor(), test::database_url("live_pg_pool_missing_db"), 1);
  auto r = run(pool, "select 1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kConnectionLost);
  EXPECT_NE(r.error().message.find("live_pg_pool_missing_db"), std::string::npos)
      << r.error().message;
  EXPECT_TRUE(PgPool::connection_lost(r.error()));
  EXPECT_EQ(pool.open(), 0u);
}

TEST_F(PgPoolTest, CloseFailsWaiters) {
  PgPool pool(ioc_.get_executor(), *url_, 1);
  std::optional<Result<QueryResult>> slow, queued;
  asio::co_spawn(
      ioc_,
      [&]() -> asio::awaitable<void> {
        slow.emplace(co_await pool.query("select pg_sleep(0.05)", NoParams()));
      },
      testing::Rethrow{});
  asio::co_spawn(
      ioc_,
      [&]() -> asio::awaitable<void> {
        queued.emplace(co_await pool.query("select 1", NoParams()));
      },
      testing::Rethrow{});
  ASSERT_TRUE(run_until(ioc_, [&] { return pool.waiting() == 1; }));
  pool.close();
  ASSERT_TRUE(run_until(ioc_, [&] { return slow && queued; }));
  EXPECT_TRUE(slow->ok());
  ASSERT_FALSE(queued->ok());
  EXPECT_EQ(queued->error().message, "connection pool closed");
  EXPECT_EQ(pool.open(), 0u);
}

// Rows of pg_stat_activity still running a statement marked with `marker` (a SQL comment).
std::string read_source(const std::string& relative) {
  std::ifstream in(test::source_path(relative));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::size_t running_with(const std::string& url, const std::string& marker) {
  return test::query(url,
                     "select pid from pg_stat_activity where state = 'active' and query like '%" +
                         marker + "%' and pid <> pg_backend_pid()")
      .size();
}

TEST_F(PgPoolTest, StatementTimeoutIsAClearErrorAndThePoolGoesOn) {
  PgPool pool(ioc_.get_executor(), *url_, 1, PgPoolOptions{.query_timeout = 200ms});
  auto setting = run(pool, "select current_setting('statement_timeout')");
  ASSERT_TRUE(setting.ok()) << setting.error().message;
  EXPECT_EQ(setting->rows[0][0], "200ms");
  auto started = std::chrono::steady_clock::now();
  auto slow = run(pool, "select pg_sleep(30)");
  auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.error().code, ErrorCode::kQueryTimeout);
  EXPECT_STREQ(error_code_name(slow.error().code), "postgres-error");
  EXPECT_EQ(slow.error().message, "the query exceeded the timeout of 200 ms (--query-timeout-ms)");
  EXPECT_LT(took, PgPool::kCancelGrace);  // the server's own statement_timeout ended it
  // The server answered, so the connection is healthy and kept.
  auto ok = run(pool, "select 1");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(pool.open(), 1u);
  EXPECT_EQ(pool.cancelled(), 0u);
}

// The server's timer reads the wall clock: stepped forward (a VM resuming), it ends a statement
// before our steady clock has seen the timeout pass. Its word is enough. (Simulated with a
// session timeout below the pool's: the server then says so long before our clock could.)
TEST_F(PgPoolTest, TheServersStatementTimeoutIsATimeoutWhateverOurClockSays) {
  PgPool pool(ioc_.get_executor(), *url_, 1, PgPoolOptions{.query_timeout = 30s});
  ASSERT_TRUE(run(pool, "select set_config('statement_timeout', '150ms', false)").ok());
  auto started = std::chrono::steady_clock::now();
  auto slow = run(pool, "select pg_sleep(30)");
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.error().code, ErrorCode::kQueryTimeout) << slow.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  EXPECT_EQ(pool.cancelled(), 0u);
}

TEST_F(PgPoolTest, OperatorCancelIsNotATimeout) {
  PgPool pool(ioc_.get_executor(), *url_, 1, PgPoolOptions{.query_timeout = 30s});
  std::optional<Result<QueryResult>> slow;
  asio::co_spawn(
      ioc_,
      [&]() -> asio::awaitable<void> {
        slow.emplace(co_await pool.query("select pg_sleep(30) /* operator-cancel */", NoParams()));
      },
      testing::Rethrow{});
  ASSERT_TRUE(run_until(ioc_, [&] { return running_with(*url_, "operator-cancel") == 1; }));
  test::exec(*url_,
             "select pg_cancel_backend(pid) from pg_stat_activity where query like "
             "'%/* operator-cancel */%' and pid <> pg_backend_pid()");
  ASSERT_TRUE(run_until(ioc_, [&] { return slow.has_value(); }));
  ASSERT_FALSE(slow->ok());
  EXPECT_EQ(slow->error().code, ErrorCode::kPostgresError);
  EXPECT_EQ(slow->error().message, "canceling statement due to user request");
}

// Runs `sql` on `pool` with a cancellation slot; `out` receives the outcome.
void spawn_cancellable(asio::io_context& ioc, PgPool& pool, std::string sql,
                       asio::cancellation_signal& signal, std::optional<Result<QueryResult>>& out) {
  asio::co_spawn(
      ioc,
      [&pool, &out, sql]() -> asio::awaitable<void> {
        out.emplace(co_await pool.query(sql, NoParams()));
        // The caller's throw_if_cancelled is back in force after query() returns.
        EXPECT_TRUE(co_await asio::this_coro::throw_if_cancelled());
      },
      asio::bind_cancellation_slot(signal.slot(), testing::Rethrow{}));
}

TEST_F(PgPoolTest, CancellationSlotCancelsTheRunningStatement) {
  PgPool pool(ioc_.get_executor(), *url_, 1);
  asio::cancellation_signal signal;
  std::optional<Result<QueryResult>> slow;
  spawn_cancellable(ioc_, pool, "select pg_sleep(30) /* slot-cancel */", signal, slow);
  ASSERT_TRUE(run_until(ioc_, [&] { return running_with(*url_, "slot-cancel") == 1; }));
  auto started = std::chrono::steady_clock::now();
  signal.emit(asio::cancellation_type::terminal);
  ASSERT_TRUE(run_until(ioc_, [&] { return slow.has_value(); }));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
  ASSERT_FALSE(slow->ok());
  EXPECT_EQ(slow->error().message, "the statement was cancelled");
  EXPECT_EQ(running_with(*url_, "slot-cancel"), 0u);
  EXPECT_EQ(pool.cancelled(), 1u);
  // The server confirmed the cancel: the connection is reused, not replaced.
  EXPECT_EQ(pool.open(), 1u);
  auto ok = run(pool, "select 1");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
}

TEST_F(PgPoolTest, CancellationSlotLeavesTheQueueOfWaiters) {
  PgPool pool(ioc_.get_executor(), *url_, 1);
  asio::cancellation_signal signal;
  std::optional<Result<QueryResult>> busy, queued;
  asio::co_spawn(
      ioc_,
      [&]() -> asio::awaitable<void> {
        busy.emplace(co_await pool.query("select pg_sleep(0.3)", NoParams()));
      },
      testing::Rethrow{});
  spawn_cancellable(ioc_, pool, "select 1", signal, queued);
  ASSERT_TRUE(run_until(ioc_, [&] { return pool.waiting() == 1; }));
  signal.emit(asio::cancellation_type::terminal);
  ASSERT_TRUE(run_until(ioc_, [&] { return queued.has_value(); }));
  EXPECT_FALSE(busy.has_value());
  ASSERT_FALSE(queued->ok());
  EXPECT_EQ(queued->error().message, "the statement was cancelled");
  EXPECT_EQ(pool.waiting(), 0u);
  ASSERT_TRUE(run_until(ioc_, [&] { return busy.has_value(); }));
  EXPECT_TRUE(busy->ok());
  EXPECT_EQ(pool.in_use(), 0u);
}

// Background callers (poll rounds) wait behind normal ones, but get one connection in four
// while both wait: slowed, never starved. The order of completion shows who got the connection.
TEST_F(PgPoolTest, BackgroundCallersYieldToNormalOnesWithoutStarving) {
  PgPool pool(ioc_.get_executor(), *url_, 1);
  std::vector<std::string> order;
  auto spawn = [&](std::string name, QueryPriority priority) {
    asio::co_spawn(
        ioc_,
        [&, name, priority]() -> asio::awaitable<void> {
          auto r = co_await pool.query("select pg_sleep(0.02)", NoParams(), priority);
          EXPECT_TRUE(r.ok()) << name;
          order.push_back(name);
        },
        testing::Rethrow{});
  };
  spawn("hold", QueryPriority::kNormal);
  ASSERT_TRUE(run_until(ioc_, [&] { return pool.in_use() == 1; }));
  spawn("b1", QueryPriority::kBackground);
  spawn("b2", QueryPriority::kBackground);
  for (int i = 1; i <= 6; ++i) spawn("n" + std::to_string(i), QueryPriority::kNormal);
  ASSERT_TRUE(run_until(ioc_, [&] { return pool.waiting() == 8; }));
  ASSERT_TRUE(run_until(ioc_, [&] { return order.size() == 9; }));
  EXPECT_EQ(order,
            (std::vector<std::string>{"hold", "n1", "n2", "n3", "b1", "n4", "n5", "n6", "b2"}));
}

std::string pid_of(const Result<QueryResult>& r) {
  return r.ok() && !r->rows.empty() && r->rows[0][0] ? *r->rows[0][0] : "";
}

TEST_F(PgPoolTest, ConnectionOfASlowStatementIsRecycled) {
  PgPool pool(ioc_.get_executor(), *url_, 1, PgPoolOptions{.recycle_after = 100ms});
  auto a = pid_of(run(pool, "select pg_backend_pid()"));
  auto b = pid_of(run(pool, "select pg_backend_pid()"));
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a, b);  // fast statements keep their connection
  auto slow = run(pool, "select pg_backend_pid(), pg_sleep(0.15)");
  ASSERT_TRUE(slow.ok()) << slow.error().message;
  EXPECT_EQ(pid_of(slow), a);
  EXPECT_EQ(pool.recycled(), 1u);
  EXPECT_EQ(pool.open(), 0u);
  auto c = pid_of(run(pool, "select pg_backend_pid()"));
  EXPECT_NE(c, a);
}

TEST_F(PgPoolTest, ConnectionPastItsLifetimeIsReplaced) {
  PgPool pool(ioc_.get_executor(), *url_, 1, PgPoolOptions{.conn_lifetime = 150ms});
  auto a = pid_of(run(pool, "select pg_backend_pid()"));
  ASSERT_FALSE(a.empty());
  // The lifetime itself is what the test waits for.
  asio::steady_timer later(ioc_, 200ms);
  bool waited = false;
  later.async_wait([&](boost::system::error_code) { waited = true; });
  ASSERT_TRUE(run_until(ioc_, [&] { return waited; }));
  auto b = pid_of(run(pool, "select pg_backend_pid()"));
  EXPECT_NE(a, b);
  EXPECT_EQ(pool.recycled(), 1u);
  EXPECT_EQ(pool.open(), 1u);
}

// VmRSS of a local process in kB, or -1 when it is gone (or /proc is not readable).
long rss_kb(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

// 2000 subqueries over the demo schema, as an aliased GraphQL query compiles to: planning them
// makes the backend allocate a few hundred MB, and an idle backend keeps much of it.
std::string heavy_statement() {
  std::string sql = "select pg_backend_pid(), array_length(array[";
  for (int i = 0; i < 2000; ++i) {
    if (i > 0) sql += ',';
    std::string o = "o" + std::to_string(i);
    sql += "(select json_agg(" + o + ") from orders " + o + " where " + o + ".id > " +
           std::to_string(i) + ")";
  }
  return sql + "], 1)";
}

TEST_F(PgPoolTest, HeavyStatementDoesNotStayLargeInThePool) {
  std::string demo =
      test::fresh_database("live_pg_pool_demo", read_source("tools/demo/schema.sql") +
                                                    read_source("tools/demo/seed.sql"));
  auto measure = [&](PgPoolOptions options) {
    PgPool pool(ioc_.get_executor(), demo, 1, options);
    auto before = pid_of(run(pool, "select pg_backend_pid()"));
    long rss_before = rss_kb(before);
    auto heavy = run(pool, heavy_statement());
    EXPECT_TRUE(heavy.ok()) << heavy.error().message;
    struct Out {
      std::string pid;
      long before, after;
      std::uint64_t recycled;
      std::string next_pid;
    } out{pid_of(heavy), rss_before, rss_kb(pid_of(heavy)), pool.recycled(), ""};
    if (out.pid.empty() || out.before < 0) return out;
    // A closed connection's backend exits shortly after; wait for that (or for nothing, when
    // the connection was kept).
    if (out.recycled > 0) {
      EXPECT_TRUE(run_until(ioc_, [&] { return rss_kb(out.pid) < 0; }));
      out.after = rss_kb(out.pid);
    }
    out.next_pid = pid_of(run(pool, "select pg_backend_pid()"));
    return out;
  };
  auto kept = measure({});
  if (kept.before < 0) GTEST_SKIP() << "the backends' /proc entries are not readable here";
  std::printf("idle backend after the heavy statement, kept in the pool: %ld kB (before: %ld kB)\n",
              kept.after, kept.before);
  EXPECT_EQ(kept.next_pid, kept.pid);

  auto recycled = measure({.recycle_after = std::chrono::milliseconds(100)});
  EXPECT_EQ(recycled.recycled, 1u);
  EXPECT_EQ(recycled.after, -1);  // the heavy backend exited: its memory went with it
  EXPECT_NE(recycled.next_pid, recycled.pid);
  long next = rss_kb(recycled.next_pid);
  std::printf("with --conn-recycle-after-ms: heavy backend gone, the pool's next one: %ld kB\n",
              next);
  EXPECT_LT(next, kept.after);
}

// ---- transaction() ----

using Batch = std::vector<PgPool::Statement>;

// Runs a transaction to completion on `ioc`, optionally with a cancellation slot.
Result<std::vector<QueryResult>> run_transaction(asio::io_context& ioc, PgPool& pool, Batch batch,
                                                 asio::cancellation_signal* signal = nullptr) {
  std::optional<Result<std::vector<QueryResult>>> out;
  auto body = [&]() -> asio::awaitable<void> {
    out.emplace(co_await pool.transaction(std::move(batch)));
  };
  if (signal != nullptr) {
    asio::co_spawn(ioc, body, asio::bind_cancellation_slot(signal->slot(), testing::Rethrow{}));
  } else {
    asio::co_spawn(ioc, body, testing::Rethrow{});
  }
  EXPECT_TRUE(run_until(ioc, [&] { return out.has_value(); }));
  if (!out) return make_error(ErrorCode::kUnexpected, "timed out");
  return std::move(*out);
}

std::string count_of(const std::string& url, const std::string& table) {
  return test::query(url, "select count(*) from " + table).at(0).at(0);
}

TEST_F(PgPoolTest, TransactionRunsItsStatementsInOrderOnOneConnectionAndCommits) {
  test::exec(*url_, "create table tx_commit (id int primary key, note text)");
  PgPool pool(ioc_.get_executor(), *url_, 2);
  const auto statements_before = pool.statements();
  auto r = run_transaction(
      ioc_, pool,
      Batch{{"insert into tx_commit values ($1::int, $2::text)", {"1", "a"}},
            {"insert into tx_commit values ($1::int, $2::text) returning id", {"2", std::nullopt}},
            {"select count(*), count(distinct pg_backend_pid()), "
             "pg_current_xact_id_if_assigned() is not null from tx_commit",
             {}}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 3u);
  EXPECT_TRUE((*r)[0].rows.empty());
  EXPECT_EQ((*r)[1].rows.at(0).at(0), "2");
  // The third statement sees the first two: same transaction (it has an xid), one backend.
  EXPECT_EQ((*r)[2].rows.at(0).at(0), "2");
  EXPECT_EQ((*r)[2].rows.at(0).at(2), "t");
  EXPECT_EQ(count_of(*url_, "tx_commit"), "2");          // committed: another session sees it
  EXPECT_EQ(pool.statements() - statements_before, 5u);  // BEGIN, three, COMMIT
  EXPECT_EQ(pool.open(), 1u);
  EXPECT_EQ(pool.in_use(), 0u);
  // The connection went back idle, outside any transaction.
  auto after = run(pool, "select pg_current_xact_id_if_assigned() is null");
  ASSERT_TRUE(after.ok()) << after.error().message;
  EXPECT_EQ(after->rows.at(0).at(0), "t");
  // No statements: BEGIN and COMMIT only.
  auto empty = run_transaction(ioc_, pool, Batch{});
  ASSERT_TRUE(empty.ok()) << empty.error().message;
  EXPECT_TRUE(empty->empty());
}

// Any failing statement rolls back everything before it, and its error keeps query()'s codes;
// the connection is rolled back and reused, not left in an aborted transaction.
TEST_F(PgPoolTest, TransactionRollsBackOnTheFirstErrorAndTheConnectionGoesOn) {
  test::exec(*url_, "create table tx_rollback (id int primary key)");
  PgPool pool(ioc_.get_executor(), *url_, 1);
  auto pid = run(pool, "select pg_backend_pid()");
  ASSERT_TRUE(pid.ok()) << pid.error().message;

  auto duplicate = run_transaction(ioc_, pool,
                                   Batch{{"insert into tx_rollback values ($1::int)", {"1"}},
                                         {"insert into tx_rollback values ($1::int)", {"1"}},
                                         {"insert into tx_rollback values ($1::int)", {"3"}}});
  ASSERT_FALSE(duplicate.ok());
  EXPECT_EQ(duplicate.error().code, ErrorCode::kPostgresError);
  EXPECT_NE(duplicate.error().message.find("duplicate key"), std::string::npos)
      << duplicate.error().message;
  EXPECT_EQ(count_of(*url_, "tx_rollback"), "0");

  auto bad_value = run_transaction(ioc_, pool,
                                   Batch{{"insert into tx_rollback values ($1::int)", {"1"}},
                                         {"insert into tx_rollback values ($1::int)", {"x"}}});
  ASSERT_FALSE(bad_value.ok());
  EXPECT_EQ(bad_value.error().code, ErrorCode::kDataException);
  EXPECT_EQ(count_of(*url_, "tx_rollback"), "0");

  // The first statement failing: nothing runs after it.
  auto first = run_transaction(
      ioc_, pool,
      Batch{{"select * from no_such_table", {}}, {"insert into tx_rollback values (9)", {}}});
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error().message, "relation \"no_such_table\" does not exist");
  EXPECT_EQ(count_of(*url_, "tx_rollback"), "0");

  // Same backend throughout: rolled back, not replaced.
  auto again = run(pool, "select pg_backend_pid(), pg_current_xact_id_if_assigned() is null");
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->rows.at(0).at(0), pid->rows.at(0).at(0));
  EXPECT_EQ(again->rows.at(0).at(1), "t");
  EXPECT_EQ(pool.open(), 1u);
  auto ok = run_transaction(ioc_, pool, Batch{{"insert into tx_rollback values (7)", {}}});
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(count_of(*url_, "tx_rollback"), "1");
}

TEST_F(PgPoolTest, TransactionStatementPastTheTimeoutRollsBack) {
  test::exec(*url_, "create table tx_timeout (id int primary key)");
  PgPool pool(ioc_.get_executor(), *url_, 1, PgPoolOptions{.query_timeout = 200ms});
  auto r = run_transaction(
      ioc_, pool, Batch{{"insert into tx_timeout values (1)", {}}, {"select pg_sleep(30)", {}}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kQueryTimeout);
  EXPECT_EQ(r.error().message, "the query exceeded the timeout of 200 ms (--query-timeout-ms)");
  EXPECT_EQ(count_of(*url_, "tx_timeout"), "0");
  auto ok = run(pool, "select 1");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(pool.open(), 1u);
}

TEST_F(PgPoolTest, TransactionCancelledByItsCallerRollsBack) {
  test::exec(*url_, "create table tx_cancel (id int primary key)");
  PgPool pool(ioc_.get_executor(), *url_, 1);
  asio::cancellation_signal signal;
  std::optional<Result<std::vector<QueryResult>>> out;
  // (Built outside the coroutine: GCC 12 cannot keep an initializer_list's array in its frame.)
  Batch batch{{"insert into tx_cancel values (1)", {}},
              {"select pg_sleep(30) /* tx-cancel */", {}},
              {"insert into tx_cancel values (2)", {}}};
  asio::co_spawn(
      ioc_,
      [&]() -> asio::awaitable<void> { out.emplace(co_await pool.transaction(std::move(batch))); },
      asio::bind_cancellation_slot(signal.slot(), testing::Rethrow{}));
  ASSERT_TRUE(run_until(ioc_, [&] { return running_with(*url_, "tx-cancel") == 1; }));
  signal.emit(asio::cancellation_type::terminal);
  ASSERT_TRUE(run_until(ioc_, [&] { return out.has_value(); }));
  ASSERT_FALSE(out->ok());
  EXPECT_EQ(out->error().message, "the statement was cancelled");
  EXPECT_EQ(count_of(*url_, "tx_cancel"), "0");
  auto ok = run(pool, "select pg_current_xact_id_if_assigned() is null");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->rows.at(0).at(0), "t");
}

TEST_F(PgPoolTest, TransactionWhoseBackendIsTerminatedIsAConnectionLossAndCommitsNothing) {
  test::exec(*url_, "create table tx_lost (id int primary key)");
  PgPool pool(ioc_.get_executor(), *url_, 1);
  std::optional<Result<std::vector<QueryResult>>> out;
  Batch batch{{"insert into tx_lost values (1)", {}}, {"select pg_sleep(30) /* tx-lost */", {}}};
  asio::co_spawn(
      ioc_,
      [&]() -> asio::awaitable<void> { out.emplace(co_await pool.transaction(std::move(batch))); },
      testing::Rethrow{});
  ASSERT_TRUE(run_until(ioc_, [&] { return running_with(*url_, "tx-lost") == 1; }));
  test::exec(*url_,
             "select pg_terminate_backend(pid) from pg_stat_activity where query like "
             "'%/* tx-lost */%' and pid <> pg_backend_pid()");
  ASSERT_TRUE(run_until(ioc_, [&] { return out.has_value(); }));
  ASSERT_FALSE(out->ok());
  EXPECT_EQ(out->error().code, ErrorCode::kConnectionLost) << out->error().message;
  EXPECT_EQ(count_of(*url_, "tx_lost"), "0");
  auto ok = run(pool, "select 1");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
}

}  // namespace
}  // namespace liveql::live

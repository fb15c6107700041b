#include "liveql/live/pg_pool.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "loop.hpp"
#include "support/test_db.hpp"

namespace liveql::live {
namespace {

namespace asio = boost::asio;
using testing::run_until;
using NoParams = std::vector<std::optional<std::string>>;

class PgPoolTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { url_ = new std::string(test::fresh_database("live_pg_pool")); }
  static void TearDownTestSuite() { delete url_; }

  // Runs one query to completion on ioc_.
  Result<QueryResult> run(PgPool& pool, std::string sql,
                          std::vector<std::optional<std::string>> params = {}) {
    std::optional<Result<QueryResult>> out;
    asio::co_spawn(
        ioc_,
        [&]() -> asio::awaitable<void> {
          out.emplace(co_await pool.query(std::move(sql), std::move(params)));
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

  auto missing = run(pool, "select * from no_such_table");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kPostgresError);
  EXPECT_EQ(missing.error().message, "relation \"no_such_table\" does not exist");

  // The connection survives statement errors.
  auto ok = run(pool, "select 2");
  ASSERT_TRUE(ok.ok());
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
  EXPECT_TRUE(PgPool::connection_lost(slow->error())) << slow->error().message;
  // A statement's own error is not a connection loss.
  auto missing = run(pool, "select * from no_such_table");
  ASSERT_FALSE(missing.ok());
  EXPECT_FALSE(PgPool::connection_lost(missing.error()));
  auto ok = run(pool, "select 1");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
}

TEST_F(PgPoolTest, ConnectFailureIsAnError) {
  PgPool pool(ioc_.get_executor(), test::database_url("live_pg_pool_missing_db"), 1);
  auto r = run(pool, "select 1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kPostgresError);
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

}  // namespace
}  // namespace liveql::live

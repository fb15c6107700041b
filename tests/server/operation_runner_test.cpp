// The operation runner (server/src/operation_runner.hpp) against a real PostgreSQL, with plans
// built by hand: what no compiled operation produces yet (several statements in one
// transaction, as mutations will) must already commit together, roll back together, and show a
// client only what its role may see.
#include "operation_runner.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <exception>

#include "liveql/live/pg_pool.hpp"
#include "support/test_db.hpp"

namespace liveql::server {
namespace {

namespace asio = boost::asio;

compiler::Statement statement(std::string sql, std::vector<std::string> keys) {
  compiler::Statement s;
  s.sql = std::move(sql);
  s.response_keys = std::move(keys);
  return s;
}

compiler::Session role(std::string name) {
  compiler::Session s;
  s.role = std::move(name);
  s.is_admin = s.role == "admin";
  return s;
}

class OperationRunnerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    url_ = new std::string(test::fresh_database("server_operation_runner"));
    test::exec(*url_, "create table notes (id int primary key, body text)");
  }
  static void TearDownTestSuite() { delete url_; }

  void SetUp() override {
    pool_ = std::make_unique<live::PgPool>(ioc_.get_executor(), *url_, 2);
    app_.core = ioc_.get_executor();
    app_.pool = pool_.get();
  }

  // execute_plan() to completion, run on the core's executor (as a --threads 1 session).
  Result<std::string> execute(compiler::Plan plan, compiler::Session session = role("admin")) {
    std::optional<Result<std::string>> out;
    asio::co_spawn(
        ioc_,
        [&]() -> asio::awaitable<void> {
          out.emplace(co_await execute_plan(app_, std::move(session), std::move(plan)));
        },
        [](std::exception_ptr e) {
          if (e) std::rethrow_exception(e);
        });
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!out && std::chrono::steady_clock::now() < deadline) {
      if (ioc_.stopped()) ioc_.restart();
      ioc_.run_one_for(std::chrono::milliseconds(10));
    }
    if (!out) return make_error(ErrorCode::kUnexpected, "timed out");
    return std::move(*out);
  }

  static std::string* url_;
  asio::io_context ioc_;
  std::unique_ptr<live::PgPool> pool_;
  App app_;
};
std::string* OperationRunnerTest::url_ = nullptr;

// Two statements, each answering its own response key, in one transaction: the second sees the
// first's row, both commit, and `data` is one object of both keys in statement order.
TEST_F(OperationRunnerTest, StatementsOfATransactionalPlanCommitTogetherIntoOneDataObject) {
  compiler::Plan plan;
  plan.vars = boost::json::object{{"id", 1}, {"body", "first"}};
  plan.vars_text = boost::json::serialize(plan.vars);
  plan.transaction = true;
  plan.statements.push_back(statement(
      "with ins as (insert into notes values (($1::json->>'id')::int, $1::json->>'body') "
      "returning id) select json_build_object('insert_note', (select id from ins))::text as data",
      {"insert_note"}));
  plan.statements.push_back(
      statement("select json_build_object('count', (select count(*) from notes where id = "
                "($1::json->>'id')::int))::text as data",
                {"count"}));
  auto data = execute(std::move(plan));
  ASSERT_TRUE(data.ok()) << data.error().message;
  EXPECT_EQ(boost::json::parse(*data), boost::json::parse(R"({"insert_note": 1, "count": 1})"));
  EXPECT_EQ(test::query(*url_, "select body from notes where id = 1").at(0).at(0), "first");
}

// The second statement fails: nothing of the first stays; a non-admin sees no PostgreSQL
// detail, an admin does; path "$" either way.
TEST_F(OperationRunnerTest, AFailingStatementRollsTheWholePlanBackAndHidesDetailsFromNonAdmins) {
  test::exec(*url_, "insert into notes values (100, 'taken')");
  auto plan = [] {
    compiler::Plan p;
    p.vars_text = "{}";
    p.transaction = true;
    p.statements.push_back(
        statement("with ins as (insert into notes values (101, $1::json->>'new') returning id) "
                  "select json_build_object('a', (select id from ins))::text as data",
                  {"a"}));
    p.statements.push_back(
        statement("with ins as (insert into notes values (100, $1::json->>'again') returning id) "
                  "select json_build_object('b', (select id from ins))::text as data",
                  {"b"}));
    return p;
  };
  auto user = execute(plan(), role("user"));
  ASSERT_FALSE(user.ok());
  EXPECT_EQ(user.error().code, ErrorCode::kPostgresError);
  EXPECT_EQ(user.error().message, "database query error");
  EXPECT_EQ(user.error().path, "$");
  auto admin = execute(plan(), role("admin"));
  ASSERT_FALSE(admin.ok());
  EXPECT_NE(admin.error().message.find("duplicate key"), std::string::npos)
      << admin.error().message;
  EXPECT_EQ(test::query(*url_, "select count(*) from notes where id = 101").at(0).at(0), "0");
  // The pool goes on with the same connections.
  compiler::Plan ok;
  ok.vars_text = "{}";
  ok.statements.push_back(
      statement("select json_build_object('x', 1, 'vars', $1::json)::text as data", {"x"}));
  auto x = execute(std::move(ok));
  ASSERT_TRUE(x.ok()) << x.error().message;
  EXPECT_EQ(boost::json::parse(*x), boost::json::parse(R"({"x": 1, "vars": {}})"));
}

TEST_F(OperationRunnerTest, StaticPlansNeedNoDatabaseAndSubscriptionsAreNotStatements) {
  app_.pool = nullptr;
  compiler::Plan introspection;
  introspection.static_data = boost::json::object{{"__typename", "query_root"}};
  auto data = execute(std::move(introspection));
  ASSERT_TRUE(data.ok()) << data.error().message;
  EXPECT_EQ(*data, R"({"__typename":"query_root"})");

  compiler::Plan query;
  query.statements.push_back(statement("select 1", {"a"}));
  auto no_pool = execute(std::move(query));
  ASSERT_FALSE(no_pool.ok());
  EXPECT_EQ(no_pool.error().message, "no database pool");

  app_.pool = pool_.get();
  compiler::Plan subscription;
  subscription.type = gql::OperationType::kSubscription;
  subscription.live.emplace();
  auto refused = execute(std::move(subscription));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnexpected);
}

// A statement answering something else than one row with a `data` column is an error, not a
// crash.
TEST_F(OperationRunnerTest, AResultOfAnotherShapeIsAnError) {
  compiler::Plan plan;
  plan.vars_text = "{}";
  plan.statements.push_back(
      statement("select $1::json as other from generate_series(1, 2)", {"a"}));
  auto data = execute(std::move(plan));
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.error().message, "unexpected query result shape");
}

}  // namespace
}  // namespace liveql::server

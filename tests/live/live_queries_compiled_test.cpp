// LiveQueries::subscribe() with CompiledOperation values built by hand, so the statement is the
// real SQL generator's (sql::multiplexed_query), including its $3::xid8 visibility guard.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>

#include "liveql/compiler/compile.hpp"
#include "liveql/live/live_queries.hpp"
#include "liveql/live/metrics.hpp"
#include "liveql/live/pg_pool.hpp"
#include "loop.hpp"
#include "support/test_db.hpp"

namespace liveql::live {
namespace {

namespace json = boost::json;
using testing::run_until;

ir::Field column(std::string name, std::string type) {
  ir::Field f;
  f.kind = ir::Field::Kind::kColumn;
  f.alias = name;
  f.column = std::move(name);
  f.pg_type = std::move(type);
  return f;
}

// query { notes(where: {owner: {_eq: $o}}) { id body } } with vars {"o": owner}.
compiler::CompiledOperation notes_of(int owner) {
  auto where = std::make_shared<ir::BoolExp>();
  where->kind = ir::BoolExp::Kind::kCompare;
  where->column = "owner";
  where->column_type = "integer";
  where->op = ir::CompareOp::kEq;
  where->param = ir::Param{"o", "integer", false};
  ir::RootField rf;
  rf.kind = ir::RootField::Kind::kSelect;
  rf.alias = "notes";
  rf.select.table = {"public", "notes"};
  rf.select.primary_key = {"id"};
  rf.select.where = where;
  rf.select.order_by.push_back(ir::OrderBy{{}, "id", false, false});
  rf.select.fields = {column("id", "integer"), column("body", "text")};
  compiler::CompiledOperation op;
  op.type = gql::OperationType::kSubscription;
  op.ir.fields.push_back(std::move(rf));
  op.vars = json::object{{"o", owner}};
  op.root_field_name = "notes";
  return op;
}

class LiveQueriesCompiledTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    url_ = new std::string(test::fresh_database("live_queries_compiled", R"(
      create table notes (id serial primary key, owner int not null, body text);
      insert into notes (owner, body) values (1, 'hello'), (2, 'other');
    )"));
  }
  static void TearDownTestSuite() { delete url_; }
  void TearDown() override {
    live_.stop();
    pool_.close();
    ioc_.run_for(std::chrono::milliseconds(50));
  }
  std::int64_t statements() {
    return live_.cohorts_json().as_array().at(0).at("statements").to_number<std::int64_t>();
  }

  static std::string* url_;
  boost::asio::io_context ioc_;
  Metrics metrics_;
  PgPool pool_{ioc_.get_executor(), *url_, 2};
  LiveQueries live_{ioc_.get_executor(),
                    pool_,
                    metrics_,
                    {.batch_size = 100,
                     .refetch_interval = std::chrono::hours(1),
                     .visibility_retry_delay = std::chrono::milliseconds(1),
                     .visibility_retries = 3}};
};
std::string* LiveQueriesCompiledTest::url_ = nullptr;

struct Sink {
  std::vector<Result<std::string>> got;
  LiveQueries::Push push() {
    return [this](Result<LiveQueries::ResultText> r) {
      got.push_back(r ? Result<std::string>(**r) : Result<std::string>(r.take_error()));
    };
  }
};

TEST_F(LiveQueriesCompiledTest, GeneratedSqlFirstResultAndTargetedRefetchWithXid) {
  Sink a, b;
  auto ida = live_.subscribe(notes_of(1), "user", a.push());
  live_.subscribe(notes_of(2), "user", b.push());
  ASSERT_TRUE(run_until(ioc_, [&] { return a.got.size() == 1 && b.got.size() == 1; }));
  ASSERT_TRUE(a.got[0].ok()) << a.got[0].error().message;
  EXPECT_EQ(json::parse(a.got[0].value()), json::parse(R"({"notes":[{"id":1,"body":"hello"}]})"));
  EXPECT_EQ(live_.cohort_count(), 1u);
  auto cohort = live_.cohorts_json().as_array().at(0).as_object();
  EXPECT_EQ(cohort.at("root_field").as_string(), "notes");
  EXPECT_EQ(cohort.at("distinct_variables").to_number<std::int64_t>(), 2);
  ASSERT_NE(live_.last_keys(ida), nullptr);
  EXPECT_NE(live_.last_keys(ida)->find("public.notes"), std::string::npos);

  // A committed transaction: visible at once, one statement, only `a` refetched and pushed.
  auto xid = test::query(*url_,
                         "insert into notes (owner, body) values (1, 'new') "
                         "returning pg_current_xact_id()::text")[0][0];
  auto before = statements();
  live_.refetch({ida}, std::stoull(xid));
  ASSERT_TRUE(run_until(ioc_, [&] { return a.got.size() == 2; }));
  EXPECT_NE(a.got[1].value().find("new"), std::string::npos);
  EXPECT_EQ(statements() - before, 1);
  EXPECT_EQ(b.got.size(), 1u);

  // A transaction id from the future is never visible: retried up to the cap, then given up.
  auto future = std::stoull(test::query(*url_, "select pg_current_xact_id()::text")[0][0]) + 1000;
  test::exec(*url_, "update notes set body = 'newer' where body = 'new'");
  before = statements();
  live_.refetch({ida}, future);
  ASSERT_TRUE(run_until(ioc_, [&] { return a.got.size() == 3; }));
  EXPECT_EQ(statements() - before, 4);  // first try + 3 retries
}

TEST_F(LiveQueriesCompiledTest, StaticDataIsPushedOnceWithoutSql) {
  compiler::CompiledOperation op;
  op.static_data = json::object{{"__typename", "subscription_root"}};
  Sink s;
  auto id = live_.subscribe(op, "user", s.push());
  EXPECT_TRUE(s.got.empty());
  ASSERT_TRUE(run_until(ioc_, [&] { return s.got.size() == 1; }));
  EXPECT_EQ(s.got[0].value(), R"({"__typename":"subscription_root"})");
  EXPECT_EQ(live_.cohort_count(), 0u);
  EXPECT_EQ(pool_.open(), 0u);
  live_.refetch_all();
  live_.unsubscribe(id);
  EXPECT_EQ(live_.subscriber_count(), 0u);
}

}  // namespace
}  // namespace liveql::live

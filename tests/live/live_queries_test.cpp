// LiveQueries against a real database, with hand-written SQL of the multiplexed shape
// (sql.hpp): params $1::bigint[] ids, $2::json[] vars; rows id, data, keys, visible.
#include "liveql/live/live_queries.hpp"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <stdexcept>

#include "liveql/live/metrics.hpp"
#include "liveql/live/pg_pool.hpp"
#include "loop.hpp"
#include "support/test_db.hpp"

namespace liveql::live {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using testing::run_until;

// Items of one owner; `extra` is spliced into the select list of the inner query.
std::string items_sql(const std::string& table, const std::string& extra = "") {
  return "select s.id, r.data::text as data, r.keys::text as keys, true as visible "
         "from unnest($1::bigint[], $2::json[]) as s(id, vars) left join lateral ("
         "select json_build_object('items', coalesce(json_agg(json_build_object('id', t.id, "
         "'title', t.title) order by t.id), '[]'::json)" +
         extra + ") as data, coalesce(json_agg(json_build_array('public." + table +
         "', json_build_array('id'), json_build_array(t.id::text))), '[]'::json) as keys "
         "from " +
         table + " t where t.owner = (s.vars->>'owner')::int) r on true";
}

json::object owner(const std::string& v) { return json::object{{"owner", v}}; }

struct Sink {
  std::vector<Result<std::string>> got;
  LiveQueries::Push push() {
    return [this](Result<LiveQueries::ResultText> r) {
      got.push_back(r ? Result<std::string>(**r) : Result<std::string>(r.take_error()));
    };
  }
  std::string last() const { return got.empty() || !got.back().ok() ? "" : got.back().value(); }
};

class LiveQueriesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    url_ = new std::string(test::fresh_database("live_queries", R"(
      create extension if not exists pg_stat_statements;
      create table items (id serial primary key, owner int not null, title text, qty int);
      create table items_shared (id serial primary key, owner int not null, title text);
      create table items_locked (id serial primary key, owner int not null, title text);
      create table items_big (id serial primary key, owner int not null, title text);
      insert into items_big (owner, title) select g, 'big' || g from generate_series(1, 1000) g;
    )"));
  }
  static void TearDownTestSuite() { delete url_; }

  void start(LiveQueries::Options options, std::size_t pool_size = 4,
             PgPoolOptions pool_options = {}) {
    pool_ = std::make_unique<PgPool>(ioc_.get_executor(), *url_, pool_size, pool_options);
    live_ = std::make_unique<LiveQueries>(ioc_.get_executor(), *pool_, metrics_, options);
  }
  void TearDown() override {
    if (live_) live_->stop();
    live_.reset();
    pool_.reset();
    ioc_.run_for(std::chrono::milliseconds(50));  // lets cancelled coroutines unwind
  }

  json::object cohort(std::size_t i = 0) {
    return live_->cohorts_json().as_array().at(i).as_object();
  }
  std::int64_t cohort_int(const char* key, std::size_t i = 0) {
    return cohort(i).at(key).to_number<std::int64_t>();
  }
  // Waits until the first cohort completes `n` more refetches.
  bool wait_refetches(int n) {
    auto target = cohort_int("refetches") + n;
    return run_until(ioc_, [&] { return cohort_int("refetches") >= target; });
  }

  static std::string* url_;
  asio::io_context ioc_;
  Metrics metrics_;
  std::unique_ptr<PgPool> pool_;
  std::unique_ptr<LiveQueries> live_;
};
std::string* LiveQueriesTest::url_ = nullptr;

constexpr auto kFast = std::chrono::milliseconds(50);

TEST_F(LiveQueriesTest, FirstResultAtOnceUpdateAtNextPollNoOpPushesNothing) {
  test::exec(*url_, "insert into items (id, owner, title) values (101, 1, 'a')");
  start({.batch_size = 100, .refetch_interval = std::chrono::hours(1)});
  Sink sink;
  auto id = live_->subscribe_sql(items_sql("items"), "user", "items", owner("1"), sink.push());
  EXPECT_TRUE(sink.got.empty());  // never pushed from inside subscribe()
  // The interval is an hour: the first result cannot come from a poll.
  ASSERT_TRUE(run_until(ioc_, [&] { return sink.got.size() == 1; }));
  ASSERT_TRUE(sink.got[0].ok()) << sink.got[0].error().message;
  EXPECT_EQ(json::parse(sink.last()), json::parse(R"({"items":[{"id":101,"title":"a"}]})"));
  ASSERT_NE(live_->last_keys(id), nullptr);
  EXPECT_EQ(json::parse(*live_->last_keys(id)),
            json::parse(R"([["public.items",["id"],["101"]]])"));
  live_->stop();
  live_.reset();

  // Now with a short interval: an update arrives at the next poll, a no-op update pushes nothing.
  start({.batch_size = 100, .refetch_interval = kFast});
  Sink polled;
  live_->subscribe_sql(items_sql("items"), "user", "items", owner("1"), polled.push());
  ASSERT_TRUE(run_until(ioc_, [&] { return polled.got.size() == 1; }));
  test::exec(*url_, "update items set title = 'b' where id = 101");
  ASSERT_TRUE(run_until(ioc_, [&] { return polled.got.size() == 2; }));
  EXPECT_EQ(json::parse(polled.last()), json::parse(R"({"items":[{"id":101,"title":"b"}]})"));
  test::exec(*url_, "update items set title = title where id = 101");
  ASSERT_TRUE(wait_refetches(3));
  EXPECT_EQ(polled.got.size(), 2u);
  EXPECT_EQ(cohort(0).at("mode").as_string(), "poll");
  EXPECT_GE(metrics_.value("liveql_pushes_total"), 3);
}

// The pool's connection dies under running refetches, again and again (pg_terminate_backend,
// as in a PostgreSQL restart): a lost connection is not the subscriber's error. It keeps its
// subscription and gets the current result once statements run again.
TEST_F(LiveQueriesTest, LostConnectionsMidRefetchKeepTheSubscriber) {
  test::exec(*url_, "insert into items (id, owner, title) values (801, 8, 'a')");
  start({.batch_size = 100, .refetch_interval = kFast}, 1);
  Sink sink;
  // The sleep keeps each statement running long enough to be caught.
  live_->subscribe_sql(items_sql("items", ", 'slept', pg_sleep(0.1)::text"), "user", "items",
                       owner("8"), sink.push());
  ASSERT_TRUE(run_until(ioc_, [&] { return sink.got.size() == 1; }));
  // The pool's backend while it runs a statement (pool connections are named "liveql").
  const std::string running =
      "select pid from pg_stat_activity where application_name = 'liveql' and state = 'active' "
      "and datname = current_database()";
  for (int kill = 0; kill < 4; ++kill) {
    ASSERT_TRUE(run_until(ioc_, [&] {
      return !test::query(*url_, "select pg_terminate_backend(pid)::text from (" + running + ") q")
                  .empty();
    }));
  }
  test::exec(*url_, "update items set title = 'b' where id = 801");
  ASSERT_TRUE(run_until(ioc_, [&] { return sink.last().find("\"b\"") != std::string::npos; }));
  for (const auto& r : sink.got) EXPECT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(live_->subscriber_count(), 1u);
}

// Regression: subscribe() called from a handler on the loop (as the websocket session calls it)
// must not start the first fetch inline. co_spawn dispatches, so it used to run up to the first
// suspension, and when the database answered fast the push reached the session before
// subscribe() returned the id it files pushes under: the client never got its first result.
TEST_F(LiveQueriesTest, SubscribeFromTheLoopStartsNothingInline) {
  start({.batch_size = 100, .refetch_interval = std::chrono::hours(1)});
  Sink sink;
  bool checked = false;
  asio::post(ioc_, [&] {
    live_->subscribe_sql(items_sql("items"), "user", "items", owner("7"), sink.push());
    EXPECT_EQ(pool_->open(), 0u);  // no connection opened yet: the fetch has not started
    EXPECT_TRUE(sink.got.empty());
    checked = true;
  });
  ASSERT_TRUE(run_until(ioc_, [&] { return sink.got.size() == 1; }));
  EXPECT_TRUE(checked);
  ASSERT_TRUE(sink.got[0].ok()) << sink.got[0].error().message;
}

TEST_F(LiveQueriesTest, SameSqlSharesCohortIdenticalVarsShareRow) {
  test::exec(*url_,
             "insert into items_shared (owner, title) values (2, 'two'), (3, 'three'), (3, 'x')");
  start({.batch_size = 100, .refetch_interval = kFast});
  Sink two[3], three;
  for (auto& s : two) {
    live_->subscribe_sql(items_sql("items_shared"), "user", "items_shared", owner("2"), s.push());
  }
  live_->subscribe_sql(items_sql("items_shared"), "user", "items_shared", owner("3"), three.push());
  ASSERT_TRUE(run_until(ioc_, [&] {
    return two[0].got.size() == 1 && two[1].got.size() == 1 && two[2].got.size() == 1 &&
           three.got.size() == 1;
  }));
  EXPECT_EQ(live_->cohort_count(), 1u);
  EXPECT_EQ(cohort_int("subscribers"), 4);
  EXPECT_EQ(cohort_int("distinct_variables"), 2);
  EXPECT_EQ(cohort(0).at("role").as_string(), "user");
  EXPECT_EQ(cohort(0).at("root_field").as_string(), "items_shared");

  // Each poll of the cohort is one statement of two rows (one per distinct vars). Counted from
  // the statements' completions, not the cohort's starts: the loop stands still while the test
  // queries pg_stat_statements, and at a 50 ms interval a tick overdue by then may start a
  // statement on either side of a count.
  ASSERT_TRUE(wait_refetches(1));
  auto rows_before = test::query(*url_,
                                 "select coalesce(sum(rows), 0), coalesce(sum(calls), 0) from "
                                 "pg_stat_statements where query like '%unnest%items_shared%'");
  ASSERT_TRUE(wait_refetches(2));
  auto rows_after = test::query(*url_,
                                "select coalesce(sum(rows), 0), coalesce(sum(calls), 0) from "
                                "pg_stat_statements where query like '%unnest%items_shared%'");
  std::int64_t calls = std::stoll(rows_after[0][1]) - std::stoll(rows_before[0][1]);
  std::int64_t rows = std::stoll(rows_after[0][0]) - std::stoll(rows_before[0][0]);
  EXPECT_GE(calls, 1);
  EXPECT_EQ(rows, 2 * calls);

  // Another role is another cohort.
  Sink other_role;
  live_->subscribe_sql(items_sql("items_shared"), "manager", "items_shared", owner("2"),
                       other_role.push());
  ASSERT_TRUE(run_until(ioc_, [&] { return other_role.got.size() == 1; }));
  EXPECT_EQ(live_->cohort_count(), 2u);

  test::exec(*url_, "update items_shared set title = 'TWO' where owner = 2");
  ASSERT_TRUE(run_until(ioc_, [&] {
    return two[0].got.size() == 2 && two[1].got.size() == 2 && two[2].got.size() == 2;
  }));
  EXPECT_NE(two[1].last().find("TWO"), std::string::npos);
  ASSERT_TRUE(wait_refetches(2));
  EXPECT_EQ(three.got.size(), 1u);
}

TEST_F(LiveQueriesTest, BadValueErrorsOnlyThatSubscriber) {
  test::exec(*url_, "insert into items (owner, title) values (4, 'four')");
  start({.batch_size = 100, .refetch_interval = kFast});
  Sink good, bad;
  live_->subscribe_sql(items_sql("items"), "user", "items", owner("4"), good.push());
  ASSERT_TRUE(run_until(ioc_, [&] { return good.got.size() == 1; }));
  live_->subscribe_sql(items_sql("items"), "user", "items", owner("abc"), bad.push());
  ASSERT_TRUE(run_until(ioc_, [&] { return bad.got.size() == 1; }));
  ASSERT_FALSE(bad.got[0].ok());
  EXPECT_EQ(bad.got[0].error().code, ErrorCode::kDataException);
  EXPECT_EQ(bad.got[0].error().message, "invalid input syntax for type integer: \"abc\"");
  EXPECT_EQ(live_->subscriber_count(), 1u);
  EXPECT_EQ(cohort_int("subscribers"), 1);
  test::exec(*url_, "update items set title = 'FOUR' where owner = 4");
  ASSERT_TRUE(run_until(ioc_, [&] { return good.got.size() == 2; }));
  ASSERT_TRUE(wait_refetches(2));
  EXPECT_EQ(bad.got.size(), 1u);  // nothing after the error
}

TEST_F(LiveQueriesTest, FailingRowInBatchFallsBackToOneStatementPerVars) {
  test::exec(*url_, "insert into items (owner, title, qty) values (5, 'five', 1)");
  // ratio fails (division by zero) for the subscriber whose k equals some item's qty.
  std::string sql =
      items_sql("items",
                ", 'ratio', (select sum(100 / (t2.qty - (s.vars->>'k')::int)) from items t2 "
                "where t2.owner = (s.vars->>'owner')::int)");
  start({.batch_size = 100, .refetch_interval = kFast});
  Sink a, b;
  live_->subscribe_sql(sql, "user", "items", json::object{{"owner", "5"}, {"k", "7"}}, a.push());
  live_->subscribe_sql(sql, "user", "items", json::object{{"owner", "5"}, {"k", "8"}}, b.push());
  ASSERT_TRUE(run_until(ioc_, [&] { return a.got.size() == 1 && b.got.size() == 1; }));
  ASSERT_TRUE(a.got[0].ok() && b.got[0].ok());
  test::exec(*url_, "insert into items (owner, title, qty) values (5, 'seven', 7)");
  ASSERT_TRUE(run_until(ioc_, [&] { return a.got.size() == 2 && b.got.size() == 2; }));
  ASSERT_FALSE(a.got[1].ok());
  EXPECT_EQ(a.got[1].error().code, ErrorCode::kDataException);
  EXPECT_EQ(a.got[1].error().message, "division by zero");
  ASSERT_TRUE(b.got[1].ok());
  EXPECT_NE(b.last().find("seven"), std::string::npos);
  EXPECT_EQ(cohort_int("subscribers"), 1);
  test::exec(*url_, "update items set title = 'SEVEN' where qty = 7");
  ASSERT_TRUE(run_until(ioc_, [&] { return b.got.size() == 3; }));
  EXPECT_EQ(a.got.size(), 2u);
}

TEST_F(LiveQueriesTest, UnsubscribeStopsPushesAndEmptyCohortIsDeleted) {
  test::exec(*url_, "insert into items (owner, title) values (6, 'six')");
  start({.batch_size = 100, .refetch_interval = kFast});
  Sink a, b;
  auto ida = live_->subscribe_sql(items_sql("items"), "user", "items", owner("6"), a.push());
  auto idb = live_->subscribe_sql(items_sql("items"), "user", "items", owner("6"), b.push());
  // Unsubscribing before the first result arrives: nothing is ever pushed.
  Sink early;
  auto idc = live_->subscribe_sql(items_sql("items"), "user", "items", owner("6"), early.push());
  live_->unsubscribe(idc);
  ASSERT_TRUE(run_until(ioc_, [&] { return a.got.size() == 1 && b.got.size() == 1; }));
  live_->unsubscribe(ida);
  test::exec(*url_, "update items set title = 'SIX' where owner = 6");
  ASSERT_TRUE(run_until(ioc_, [&] { return b.got.size() == 2; }));
  ASSERT_TRUE(wait_refetches(1));
  EXPECT_EQ(a.got.size(), 1u);
  EXPECT_TRUE(early.got.empty());
  EXPECT_EQ(metrics_.value("liveql_subscribers"), 1);
  live_->unsubscribe(idb);
  EXPECT_EQ(live_->cohort_count(), 0u);
  EXPECT_EQ(metrics_.value("liveql_cohorts"), 0);
  auto refetches = metrics_.value("liveql_refetches_total");
  // With no cohort left, nothing runs any more: the loop goes idle.
  ASSERT_TRUE(
      run_until(
          ioc_, [&] { return pool_->in_use() == 0 && ioc_.stopped(); }, std::chrono::seconds(5)) ||
      pool_->in_use() == 0);
  EXPECT_LE(metrics_.value("liveql_refetches_total"), refetches + 1);
}

TEST_F(LiveQueriesTest, TargetedRefetchCoalesces) {
  test::exec(*url_, "insert into items (owner, title) values (7, 'seven')");
  start({.batch_size = 100, .refetch_interval = std::chrono::hours(1)});
  Sink a;
  auto id = live_->subscribe_sql(items_sql("items"), "user", "items", owner("7"), a.push());
  ASSERT_TRUE(run_until(ioc_, [&] { return a.got.size() == 1; }));
  live_->set_mode(id, LiveMode::kEvent, "test");
  EXPECT_EQ(cohort(0).at("mode").as_string(), "event");
  test::exec(*url_, "update items set title = 'SEVEN' where owner = 7");
  auto before = cohort_int("statements");
  // Many requests before anything runs: one in flight + one queued = at most two statements.
  for (int i = 0; i < 10; ++i) live_->refetch({id}, std::nullopt);
  ASSERT_TRUE(run_until(ioc_, [&] { return a.got.size() == 2; }));
  ASSERT_TRUE(
      run_until(ioc_, [&] { return pool_->in_use() == 0 && cohort_int("refetches") >= 1; }));
  ioc_.poll();
  EXPECT_LE(cohort_int("statements") - before, 2);
  EXPECT_NE(a.last().find("SEVEN"), std::string::npos);
  live_->refetch_all();
  ASSERT_TRUE(run_until(ioc_, [&] { return cohort_int("statements") > before + 1; }));
}

TEST_F(LiveQueriesTest, ThousandSubscribersBatch100RunTenStatementsPerPoll) {
  start({.batch_size = 100, .refetch_interval = std::chrono::milliseconds(200)}, 4);
  std::vector<Sink> sinks(1000);
  for (int i = 0; i < 1000; ++i) {
    live_->subscribe_sql(items_sql("items_big"), "user", "items_big", owner(std::to_string(i + 1)),
                         sinks[i].push());
  }
  ASSERT_TRUE(run_until(
      ioc_,
      [&] {
        for (auto& s : sinks) {
          if (s.got.empty()) return false;
        }
        return true;
      },
      std::chrono::seconds(120)));
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(sinks[i].got[0].ok());
    ASSERT_NE(sinks[i].last().find("\"big" + std::to_string(i + 1) + "\""), std::string::npos);
  }
  EXPECT_EQ(cohort_int("subscribers"), 1000);
  EXPECT_EQ(cohort_int("distinct_variables"), 1000);
  // A poll that began before everyone joined may end now; the next one covers all 1000.
  ASSERT_TRUE(wait_refetches(1));
  const char* pgss =
      "select coalesce(sum(calls), 0) from pg_stat_statements where query like "
      "'%unnest%items_big%'";
  auto calls_before = std::stoll(test::query(*url_, pgss)[0][0]);
  auto metric_before = metrics_.value("liveql_refetch_statements_total");
  ASSERT_TRUE(wait_refetches(1));
  auto calls_after = std::stoll(test::query(*url_, pgss)[0][0]);
  EXPECT_EQ(metrics_.value("liveql_refetch_statements_total") - metric_before, 10);
  EXPECT_EQ(calls_after - calls_before, 10);
  std::size_t pushes = 0;
  for (auto& s : sinks) pushes += s.got.size();
  EXPECT_EQ(pushes, 1000u);  // nothing changed: nothing pushed after the first results
  std::string text = metrics_.render_prometheus();
  EXPECT_NE(text.find("liveql_refetch_duration_seconds_count"), std::string::npos);
  EXPECT_NE(text.find("liveql_subscribers 1000"), std::string::npos);
}

// A session of its own that holds a lock in an open transaction until commit() or destruction.
class LockHolder {
 public:
  LockHolder(const std::string& url, const std::string& sql) : pg_(PQconnectdb(url.c_str())) {
    if (PQstatus(pg_) != CONNECTION_OK) throw std::runtime_error(PQerrorMessage(pg_));
    exec("begin");
    exec(sql);
  }
  ~LockHolder() { PQfinish(pg_); }
  LockHolder(const LockHolder&) = delete;
  LockHolder& operator=(const LockHolder&) = delete;
  void exec(const std::string& sql) {
    PGresult* r = PQexec(pg_, sql.c_str());
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    if (!ok) throw std::runtime_error(PQerrorMessage(pg_));
  }

 private:
  PGconn* pg_;
};

// Live-query statements on items_locked running now (waiting for the lock, typically).
std::size_t locked_statements(const std::string& url) {
  return test::query(url,
                     "select pid from pg_stat_activity where application_name = 'liveql' and "
                     "state = 'active' and query like '%unnest%items_locked%'")
      .size();
}

// One cohort's refetch waits on a lock past the query timeout: its subscribers (the ones in
// that statement) get the timeout error, once, without a retry or a split per vars; the other
// cohort keeps receiving updates throughout.
TEST_F(LiveQueriesTest, RefetchTimeoutErrorsOnlyItsOwnStatement) {
  test::exec(*url_,
             "insert into items_locked (owner, title) values (21, 'a'), (22, 'b');"
             "insert into items (owner, title) values (23, 'c')");
  start({.batch_size = 100, .refetch_interval = kFast}, 4,
        PgPoolOptions{.query_timeout = std::chrono::milliseconds(300)});
  Sink locked_a, locked_b, free;
  live_->subscribe_sql(items_sql("items_locked"), "user", "items_locked", owner("21"),
                       locked_a.push());
  live_->subscribe_sql(items_sql("items_locked"), "user", "items_locked", owner("22"),
                       locked_b.push());
  live_->subscribe_sql(items_sql("items"), "user", "items", owner("23"), free.push());
  ASSERT_TRUE(run_until(ioc_, [&] {
    return locked_a.got.size() == 1 && locked_b.got.size() == 1 && free.got.size() == 1;
  }));
  // Statements run for the locked cohort: all of them but the other cohort's (the locked one
  // is gone from cohorts_json once its subscribers are).
  auto locked_cohort_statements = [&] {
    double other = 0;
    auto cohorts = live_->cohorts_json();
    for (const auto& c : cohorts.as_array()) {
      if (c.at("root_field") == "items") other = c.at("statements").to_number<double>();
    }
    return metrics_.value("liveql_refetch_statements_total") - other;
  };
  {
    LockHolder lock(*url_, "lock table items_locked in access exclusive mode");
    ASSERT_TRUE(run_until(ioc_, [&] { return locked_statements(*url_) == 1; }));
    auto blocked = locked_cohort_statements();
    test::exec(*url_, "update items set title = 'C' where owner = 23");
    ASSERT_TRUE(run_until(ioc_, [&] { return locked_a.got.size() == 2; }));
    ASSERT_TRUE(run_until(ioc_, [&] { return free.got.size() == 2; }));
    EXPECT_NE(free.last().find("\"C\""), std::string::npos);
    for (Sink* s : {&locked_a, &locked_b}) {
      ASSERT_EQ(s->got.size(), 2u);
      ASSERT_FALSE(s->got[1].ok());
      EXPECT_EQ(s->got[1].error().code, ErrorCode::kQueryTimeout);
      EXPECT_EQ(s->got[1].error().message,
                "the query exceeded the timeout of 300 ms (--query-timeout-ms)");
    }
    // The one blocked statement served both; no retry, no split per vars: the timeout is not
    // paid again.
    EXPECT_EQ(locked_cohort_statements(), blocked);
    test::exec(*url_, "update items set title = 'CC' where owner = 23");
    ASSERT_TRUE(run_until(ioc_, [&] { return free.got.size() == 3; }));
  }
  EXPECT_EQ(live_->subscriber_count(), 1u);
  EXPECT_EQ(live_->cohort_count(), 1u);
  EXPECT_EQ(locked_a.got.size(), 2u);
}

// A first fetch whose subscriber left is cancelled at once (PQcancel), not run to the end.
TEST_F(LiveQueriesTest, StatementNobodyWaitsForIsCancelled) {
  start({.batch_size = 100, .refetch_interval = std::chrono::hours(1)});
  LockHolder lock(*url_, "lock table items_locked in access exclusive mode");
  Sink gone;
  auto id = live_->subscribe_sql(items_sql("items_locked"), "user", "items_locked", owner("31"),
                                 gone.push());
  ASSERT_TRUE(run_until(ioc_, [&] { return locked_statements(*url_) == 1; }));
  live_->unsubscribe(id);
  ASSERT_TRUE(run_until(ioc_, [&] { return locked_statements(*url_) == 0; }));
  EXPECT_EQ(pool_->cancelled(), 1u);
  ASSERT_TRUE(run_until(ioc_, [&] { return pool_->in_use() == 0; }));
  EXPECT_EQ(live_->cohort_count(), 0u);
  EXPECT_TRUE(gone.got.empty());
}

// A refetch still serving one subscriber runs to the end when another of its subscribers leaves.
TEST_F(LiveQueriesTest, StatementServingSomebodyIsNotCancelled) {
  start({.batch_size = 100, .refetch_interval = std::chrono::hours(1)});
  Sink leaving, staying;
  auto leaving_id = live_->subscribe_sql(items_sql("items_locked"), "user", "items_locked",
                                         owner("41"), leaving.push());
  auto staying_id = live_->subscribe_sql(items_sql("items_locked"), "user", "items_locked",
                                         owner("42"), staying.push());
  ASSERT_TRUE(run_until(ioc_, [&] { return leaving.got.size() == 1 && staying.got.size() == 1; }));
  LockHolder lock(*url_, "lock table items_locked in access exclusive mode");
  lock.exec("insert into items_locked (owner, title) values (42, 'new')");
  live_->set_mode(staying_id, LiveMode::kEvent, "test");
  live_->refetch({leaving_id, staying_id}, std::nullopt);
  ASSERT_TRUE(run_until(ioc_, [&] { return locked_statements(*url_) == 1; }));
  live_->unsubscribe(leaving_id);
  lock.exec("commit");
  ASSERT_TRUE(run_until(ioc_, [&] { return staying.got.size() == 2; }));
  EXPECT_NE(staying.last().find("new"), std::string::npos);
  EXPECT_EQ(pool_->cancelled(), 0u);
  EXPECT_EQ(leaving.got.size(), 1u);
}

}  // namespace
}  // namespace liveql::live

// Streaming subscriptions in the live core against real PostgreSQL: the compiler's statement, the
// per-subscriber cursor, full batches fetched at once, no push without new rows, rows updated
// behind the cursor not re-sent, event mode through real logical replication (only commits past
// a cursor run a statement), poll mode for a table without primary key, and inserts racing the
// stream (commits while fetches are in flight): every row arrives exactly once, in cursor order.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <thread>

#include "feed_support.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/plan.hpp"
#include "liveql/live/change_feed.hpp"
#include "liveql/live/live_queries.hpp"
#include "liveql/live/metrics.hpp"
#include "liveql/live/pg_pool.hpp"
#include "liveql/state/state_store.hpp"
#include "loop.hpp"
#include "support/test_db.hpp"

namespace liveql::live {
namespace {

namespace json = boost::json;
using testing::run_until;

constexpr const char* kSetup = R"(
  create table events (id serial primary key, body text not null, created_at timestamptz
                       not null default clock_timestamp());
  create table ticks (n int not null, at timestamptz not null default clock_timestamp());
  insert into events (body) select 'e' || i from generate_series(1, 5) as i;
)";

constexpr const char* kMetadata = R"YAML(
version: 3
sources:
- name: default
  kind: postgres
  tables:
  - table: {schema: public, name: events}
  - table: {schema: public, name: ticks}
)YAML";

// Batches pushed to one subscriber, as the list of their row arrays.
struct Batches {
  std::vector<json::array> got;
  std::vector<Error> errors;
  LiveQueries::Push push(const std::string& field) {
    return [this, field](Result<LiveQueries::ResultText> r) {
      if (!r) {
        errors.push_back(r.error());
        return;
      }
      got.push_back(json::parse(**r).as_object().at(field).as_array());
    };
  }
  // Every row's `key` of every batch, in push order.
  std::vector<std::int64_t> keys(const char* key = "id") const {
    std::vector<std::int64_t> out;
    for (const auto& b : got)
      for (const auto& row : b) out.push_back(row.at(key).to_number<std::int64_t>());
    return out;
  }
  std::size_t rows() const {
    std::size_t n = 0;
    for (const auto& b : got) n += b.size();
    return n;
  }
};

std::vector<std::int64_t> range(std::int64_t from, std::int64_t to) {
  std::vector<std::int64_t> out;
  for (std::int64_t i = from; i <= to; ++i) out.push_back(i);
  return out;
}

class StreamTest : public testing::FeedFixture {
 protected:
  void SetUp() override {
    name_slot("st_");
    url_ = test::fresh_database("live_stream_" + test_name(), kSetup);
    auto rows = test::query(url_, std::string(catalog::catalog_query()));
    auto cat = catalog::parse_catalog(rows.at(0).at(0));
    ASSERT_TRUE(cat.ok());
    catalog_ = cat.value();
    auto md = metadata::parse_metadata(kMetadata);
    ASSERT_TRUE(md.ok()) << md.error().message;
    auto schema = compiler::build_schema(catalog_, *md);
    ASSERT_TRUE(schema.ok()) << schema.error().message;
    schema_ = *schema;
  }
  void make(std::chrono::milliseconds interval = std::chrono::milliseconds(1000)) {
    LiveQueries::Options options;
    options.refetch_interval = interval;
    options.visibility_retry_delay = std::chrono::milliseconds(1);
    pool_ = std::make_unique<PgPool>(ioc_.get_executor(), url_, 4);
    live_ = std::make_unique<LiveQueries>(ioc_.get_executor(), *pool_, metrics_, options);
  }
  compiler::CompiledOperation op(std::string_view query, json::object variables = {}) {
    compiler::Request request{query, std::move(variables), std::nullopt};
    auto r = compiler::compile(*schema_, request, compiler::Session{});
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.value();
  }
  SubscriberId stream(Batches& b, int batch_size, int from = 0) {
    return live_->subscribe(
        op("subscription ($n: Int!, $from: Int!) { events_stream(batch_size: $n, cursor: "
           "{initial_value: {id: $from}}) { id body } }",
           json::object{{"n", batch_size}, {"from", from}}),
        "admin", b.push("events_stream"));
  }
  double statements() const { return metrics_.value("liveql_refetch_statements_total"); }
  double txns() const { return metrics_.value("liveql_transactions_total"); }
  json::object cohort(std::size_t i) { return live_->cohorts_json().as_array().at(i).as_object(); }
  // Runs whatever is ready (a statement a decoded commit caused has started by then).
  void settle() {
    for (int i = 0; i < 5; ++i) ioc_.poll();
  }
};

TEST_F(StreamTest, BatchesPastTheCursorThenOnlyNewRows) {
  make();
  start_feed();
  Batches a;
  stream(a, 2);
  // Five rows, batches of two: full batches are fetched at once, without any commit.
  ASSERT_TRUE(run_until(ioc_, [&] { return a.rows() == 5; }));
  ASSERT_EQ(a.got.size(), 3u);
  EXPECT_EQ(json::serialize(a.got[0]), R"([{"id":1,"body":"e1"},{"id":2,"body":"e2"}])");
  EXPECT_EQ(json::serialize(a.got[2]), R"([{"id":5,"body":"e5"}])");
  ASSERT_EQ(live_->cohort_count(), 1u);
  EXPECT_EQ(cohort(0).at("kind").as_string(), "stream");
  EXPECT_EQ(cohort(0).at("mode").as_string(), "event") << json::serialize(cohort(0));

  // A row updated behind the cursor is not sent again, and costs no statement.
  double s0 = statements(), t0 = txns();
  test::exec(url_, "update events set body = 'changed' where id = 2");
  ASSERT_TRUE(run_until(ioc_, [&] { return txns() >= t0 + 1; }));
  settle();
  EXPECT_EQ(statements(), s0);
  // A new row is pushed alone.
  test::exec(url_, "insert into events (body) values ('e6')");
  ASSERT_TRUE(run_until(ioc_, [&] { return a.got.size() == 4; }));
  EXPECT_EQ(json::serialize(a.got[3]), R"([{"id":6,"body":"e6"}])");
  EXPECT_EQ(a.keys(), range(1, 6));
  EXPECT_TRUE(a.errors.empty());
}

TEST_F(StreamTest, NothingIsPushedUntilARowPassesTheCursorAndEachCursorIsItsOwn) {
  make();
  start_feed();
  Batches far, near;
  stream(far, 10, 100);  // nothing past 100 yet: no first push (Hasura's)
  stream(near, 10, 4);
  ASSERT_TRUE(run_until(ioc_, [&] { return near.rows() == 1; }));
  EXPECT_EQ(near.keys(), (std::vector<std::int64_t>{5}));
  // One cohort, two cursors (two variable sets).
  ASSERT_EQ(live_->cohort_count(), 1u);
  EXPECT_EQ(cohort(0).at("distinct_variables").to_number<std::int64_t>(), 2);
  // Rows below `far`'s cursor run a statement for `near` only.
  double s0 = statements();
  test::exec(url_, "insert into events (body) values ('e6'), ('e7')");
  ASSERT_TRUE(run_until(ioc_, [&] { return near.rows() == 3; }));
  settle();
  EXPECT_EQ(statements(), s0 + 1);
  EXPECT_TRUE(far.got.empty());
  test::exec(url_, "insert into events (id, body) values (101, 'far')");
  ASSERT_TRUE(run_until(ioc_, [&] { return far.rows() == 1 && near.rows() == 4; }));
  EXPECT_EQ(far.keys(), (std::vector<std::int64_t>{101}));
  EXPECT_EQ(near.keys(), (std::vector<std::int64_t>{5, 6, 7, 101}));
}

// Inserts commit while the stream's statements run: every row reaches every subscriber exactly
// once, in cursor order, whichever batch (or first fetch) it falls into.
TEST_F(StreamTest, InsertsRacingTheStreamArriveExactlyOnceInOrder) {
  make();
  start_feed();
  constexpr int kRows = 300;
  Batches a, b, c;
  stream(a, 7);
  stream(b, 1, 3);
  std::thread writer([url = url_] {
    for (int i = 0; i < kRows; ++i) {
      test::exec(url, i % 3 == 0 ? "insert into events (body) values ('w'), ('w')"
                                 : "insert into events (body) values ('w')");
    }
  });
  // A subscriber joining mid-stream starts from its own cursor.
  ASSERT_TRUE(run_until(ioc_, [&] { return a.rows() >= 50; }));
  stream(c, 5, 40);
  const std::int64_t last = 5 + kRows + (kRows + 2) / 3;
  bool done = run_until(
      ioc_, [&] { return a.rows() >= last && b.rows() >= last - 3 && c.rows() >= last - 40; },
      std::chrono::seconds(60));
  writer.join();
  ASSERT_TRUE(done) << a.rows() << " " << b.rows() << " " << c.rows();
  settle();
  EXPECT_EQ(a.keys(), range(1, last));
  EXPECT_EQ(b.keys(), range(4, last));
  EXPECT_EQ(c.keys(), range(41, last));
  for (const auto& batch : a.got) EXPECT_LE(batch.size(), 7u);
  for (const auto& batch : b.got) EXPECT_EQ(batch.size(), 1u);
  EXPECT_TRUE(a.errors.empty() && b.errors.empty() && c.errors.empty());
}

// A table without a primary key cannot be matched: the stream polls, with the reason, and still
// sends each row once, ordered by its cursor (here a timestamp, as Hasura's own test streams).
TEST_F(StreamTest, PollModeWithATimestampCursor) {
  make(std::chrono::milliseconds(50));
  start_feed();
  Batches a;
  live_->subscribe(op("subscription ($t: timestamptz!) { ticks_stream(batch_size: 2, cursor: "
                      "[{initial_value: {at: $t}, ordering: ASC}]) { n } }",
                      json::object{{"t", "2020-01-01"}}),
                   "admin", a.push("ticks_stream"));
  ASSERT_TRUE(run_until(ioc_, [&] { return live_->cohort_count() == 1; }));
  EXPECT_EQ(cohort(0).at("mode").as_string(), "poll");
  EXPECT_NE(json::serialize(cohort(0).at("mode_reason")).find("no primary key"), std::string::npos)
      << json::serialize(cohort(0));
  test::exec(url_, "insert into ticks (n) values (1), (2), (3)");
  test::exec(url_, "insert into ticks (n, at) values (0, '2019-12-31')");  // behind the cursor
  ASSERT_TRUE(run_until(ioc_, [&] { return a.rows() == 3; }));
  test::exec(url_, "insert into ticks (n) values (4)");
  ASSERT_TRUE(run_until(ioc_, [&] { return a.rows() == 4; }));
  // A few more poll rounds push nothing.
  const double s0 = statements();
  ASSERT_TRUE(run_until(ioc_, [&] { return statements() >= s0 + 3; }));
  EXPECT_EQ(a.keys("n"), range(1, 4));
  EXPECT_EQ(a.got.front().size(), 2u);
  EXPECT_TRUE(a.errors.empty());
}

}  // namespace
}  // namespace liveql::live

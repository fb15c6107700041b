// Event mode end to end: real PostgreSQL (demo schema and seed), real logical replication
// (wal2json), real compile() with the demo metadata, the real Matcher. Statements are counted
// with liveql's metrics and cross-checked with pg_stat_statements.
#include "liveql/live/change_feed.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <filesystem>
#include <thread>

#include "feed_support.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/sql.hpp"
#include "liveql/live/live_queries.hpp"
#include "liveql/live/metrics.hpp"
#include "liveql/live/pg_pool.hpp"
#include "liveql/state/state_store.hpp"
#include "loop.hpp"
#include "support/test_db.hpp"

namespace liveql::live {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using testing::read_text;
using testing::run_until;
using testing::Sink;

std::shared_ptr<const compiler::Schema> demo_schema(const std::string& url,
                                                    catalog::Catalog& cat_out) {
  auto rows = test::query(url, std::string(catalog::catalog_query()));
  auto cat = catalog::parse_catalog(rows.at(0).at(0));
  EXPECT_TRUE(cat.ok());
  cat_out = cat.value();
  const fs::path dir = test::source_path("tools/demo/metadata/databases/default/tables");
  metadata::Metadata meta;
  for (const char* file : {"public_users.yaml", "public_delivery_agents.yaml", "public_orders.yaml",
                           "public_order_items.yaml"}) {
    auto table = metadata::parse_table(read_text(dir / file));
    EXPECT_TRUE(table.ok()) << file;
    meta.tables.push_back(std::move(table.value()));
  }
  auto schema = compiler::build_schema(cat_out, meta);
  EXPECT_TRUE(schema.ok()) << (schema.ok() ? "" : schema.error().message);
  return schema.value();
}

// Admin with a variable: the user role's order_items permission filters through orders, which
// the dependency extraction treats as intractable (poll) for now.
constexpr std::string_view kMyOrders =
    "subscription ($u: Int!) { orders(where: {user_id: {_eq: $u}}, order_by: {id: asc}) "
    "{ id total items(order_by: {id: asc}) { name } } }";

// What the statement prints for `op` now (sql::single_query prints `data` as the live statement
// does), as text: rule 11's results must be the same bytes, not only the same JSON.
std::string fresh_text(const std::string& url, const compiler::CompiledOperation& op) {
  PGconn* conn = PQconnectdb(url.c_str());
  std::string sql = sql::single_query(op.ir);
  std::string vars = json::serialize(op.vars);
  const char* params[1] = {vars.c_str()};
  PGresult* r = PQexecParams(conn, sql.c_str(), 1, nullptr, params, nullptr, nullptr, 0);
  std::string out;
  if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
    out = PQgetvalue(r, 0, 0);
  } else {
    ADD_FAILURE() << PQerrorMessage(conn) << "\n" << sql;
  }
  PQclear(r);
  PQfinish(conn);
  return out;
}

class ChangeFeedTest : public testing::FeedFixture {
 protected:
  void SetUp() override {
    name_slot("cf_");
    url_ = test::fresh_database("live_cf_" + test_name(),
                                "create extension if not exists pg_stat_statements;\n" +
                                    read_text(test::source_path("tools/demo/schema.sql")) + "\n" +
                                    read_text(test::source_path("tools/demo/seed.sql")));
    schema_ = demo_schema(url_, catalog_);
  }

  // `pool_url`: the pool's connection string, when not the database's own (url_).
  void make(LiveQueries::Options options = {}, const std::string& pool_url = "") {
    options.visibility_retry_delay = std::chrono::milliseconds(1);
    pool_ = std::make_unique<PgPool>(ioc_.get_executor(), pool_url.empty() ? url_ : pool_url, 4);
    live_ = std::make_unique<LiveQueries>(ioc_.get_executor(), *pool_, metrics_, options);
  }
  compiler::CompiledOperation op(std::string_view query, const std::string& user_id = "",
                                 json::object variables = {}) {
    compiler::Session session;
    if (!user_id.empty()) {
      session.role = "user";
      session.is_admin = false;
      session.variables["x-hasura-user-id"] = user_id;
    }
    compiler::Request request{query, std::move(variables), std::nullopt};
    auto r = compiler::compile(*schema_, request, session);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.value();
  }
  SubscriberId subscribe(Sink& sink, std::string_view query, const std::string& user_id = "") {
    return live_->subscribe(op(query, user_id), user_id.empty() ? "admin" : "user", sink.push());
  }
  SubscriberId my_orders(Sink& sink, int user) {
    return live_->subscribe(op(kMyOrders, "", json::object{{"u", user}}), "admin", sink.push());
  }

  // An operator's poll override of `table`, saved before the feed starts (the store is opened).
  void saved_poll_override(const std::string& table) {
    auto s = state::StateStore::open(state_dir_.string());
    ASSERT_TRUE(s.ok());
    store_ = std::move(s.value());
    ASSERT_TRUE(store_->set_table_mode(table, LiveMode::kPoll).ok());
  }
  double statements() const { return metrics_.value("liveql_refetch_statements_total"); }
  // Runs `updates`: each subscriber gets one more push, what a statement prints for its
  // operation now, byte for byte, and no statement ran for it (its row image wrote it).
  void expect_written(
      std::initializer_list<std::pair<Sink*, const compiler::CompiledOperation*>> subscribers,
      std::initializer_list<const char*> updates) {
    const double s0 = statements();
    std::vector<std::size_t> had;
    for (const auto& [sink, op] : subscribers) had.push_back(sink->got.size());
    for (const char* update : updates) test::exec(url_, update);
    ASSERT_TRUE(run_until(ioc_, [&] {
      std::size_t i = 0;
      for (const auto& [sink, op] : subscribers)
        if (sink->got.size() != had[i++] + 1) return false;
      return true;
    }));
    for (const auto& [sink, op] : subscribers)
      EXPECT_EQ(sink->got.back().value(), fresh_text(url_, *op));
    EXPECT_EQ(statements(), s0);
  }
  double txns() const { return metrics_.value("liveql_transactions_total"); }
  // Refetch statements PostgreSQL ran in this database (the multiplexed SQL's visibility check).
  long pg_refetch_calls() {
    return std::stol(test::query(url_,
                                 "select coalesce(sum(calls), 0)::bigint from pg_stat_statements "
                                 "where dbid = (select oid from pg_database where datname = "
                                 "current_database()) and query like '%pg_visible_in_snapshot%'")
                         .at(0)
                         .at(0));
  }
  // Calls of statements PostgreSQL ran in this database whose text is LIKE `pattern`, leaving
  // out the counting query itself. Every statement of liveql's pool counts, whoever runs it.
  long pg_calls(const std::string& pattern = "%") {
    return std::stol(test::query(url_,
                                 "select coalesce(sum(calls), 0)::bigint from pg_stat_statements "
                                 "where dbid = (select oid from pg_database where datname = "
                                 "current_database()) and query not like '%pg_stat_statements%' "
                                 "and query like '" +
                                     pattern + "'")
                         .at(0)
                         .at(0));
  }
  // Waits for `n` more decoded transactions, then runs every handler that is ready (a refetch
  // the transaction caused has counted its statement by then).
  void wait_txns(double before, double n) {
    ASSERT_TRUE(run_until(ioc_, [&] { return txns() >= before + n; }));
    for (int i = 0; i < 5; ++i) ioc_.poll();
  }
  json::object cohort(std::size_t i) { return live_->cohorts_json().as_array().at(i).as_object(); }
};

TEST(ChangeFeedXid, WidenXidUsesTheNearestEpoch) {
  constexpr std::uint64_t kE = std::uint64_t{1} << 32;
  EXPECT_EQ(ChangeFeed::widen_xid(100, 5 * kE + 200), 5 * kE + 100);
  EXPECT_EQ(ChangeFeed::widen_xid(210, 5 * kE + 200), 5 * kE + 210);  // slightly newer reference
  // Wraparound: an xid above the reference's low bits is from the previous epoch.
  EXPECT_EQ(ChangeFeed::widen_xid(0xFFFFFFF0u, 5 * kE + 3), 4 * kE + 0xFFFFFFF0u);
  // A stale reference just before a wrap, the transaction just after it.
  EXPECT_EQ(ChangeFeed::widen_xid(5, 4 * kE + 0xFFFFFFF0u), 5 * kE + 5);
  EXPECT_EQ(ChangeFeed::widen_xid(0xFFFFFFF0u, 3), 0xFFFFFFF0u);  // epoch 0: nothing before it
}

TEST(ChangeFeedXid, AReferenceFollowingTheStreamCrossesTheEpochWrap) {
  // The feed's rule between readings: each transaction's xid8 moves the reference forward.
  constexpr std::uint64_t kE = std::uint64_t{1} << 32;
  std::uint64_t reference = 7 * kE + 0xFFFFFF00u;  // read shortly before the wrap
  auto next = [&](std::uint32_t xid) {
    std::uint64_t xid8 = ChangeFeed::widen_xid(xid, reference);
    reference = std::max(reference, xid8);
    return xid8;
  };
  EXPECT_EQ(next(0xFFFFFF10u), 7 * kE + 0xFFFFFF10u);
  EXPECT_EQ(next(20), 8 * kE + 20);                    // past the wrap
  EXPECT_EQ(next(0xFFFFFF05u), 7 * kE + 0xFFFFFF05u);  // older, committed late
  EXPECT_EQ(next(21), 8 * kE + 21);
  EXPECT_EQ(next(1u << 30), 8 * kE + (1u << 30));  // 2^30 xids on, without a reading between
  EXPECT_EQ(reference, 8 * kE + (1u << 30));
}

TEST_F(ChangeFeedTest, UnrelatedWritesRunNoStatementOwnRowRefetchesOnlyItsSubscriber) {
  make();
  start_feed();
  Sink a, b;
  my_orders(a, 1);
  my_orders(b, 2);
  ASSERT_TRUE(run_until(ioc_, [&] { return a.got.size() == 1 && b.got.size() == 1; }));
  ASSERT_EQ(live_->cohort_count(), 1u);
  EXPECT_EQ(cohort(0).at("mode").as_string(), "event") << json::serialize(cohort(0));

  double s0 = statements(), t0 = txns();
  long pg0 = pg_refetch_calls();
  test::exec(url_, "update users set name = 'Zed' where id = 3");
  test::exec(url_, "update orders set total = 99 where id = 4");  // user 3's order
  test::exec(url_,
             "insert into order_items (order_id, name, quantity, price) "
             "values (4, 'Soup', 1, 4)");
  wait_txns(t0, 3);
  EXPECT_EQ(statements(), s0);
  EXPECT_EQ(pg_refetch_calls(), pg0);

  test::exec(url_, "update orders set total = 77 where id = 2");  // user 1's order
  ASSERT_TRUE(run_until(ioc_, [&] { return a.got.size() == 2; }));
  EXPECT_TRUE(a.last_has("77"));
  EXPECT_EQ(statements(), s0 + 1);
  EXPECT_EQ(pg_refetch_calls(), pg0 + 1);
  EXPECT_EQ(b.got.size(), 1u);
  EXPECT_GE(metrics_.value("liveql_matched_subscribers_total"), 1);
}

// An idle liveql with an event-mode subscriber runs no statement at all: the slot lag comes from
// the replication protocol, and the xid epoch is read only after transactions arrived.
TEST_F(ChangeFeedTest, IdleFeedRunsNoStatementWritesReadTheXidReference) {
  make();
  start_feed();
  Sink a;
  my_orders(a, 1);
  ASSERT_TRUE(run_until(ioc_, [&] { return a.got.size() == 1; }));
  ASSERT_EQ(cohort(0).at("mode").as_string(), "event");
  const std::string reference = "%pg_snapshot_xmax%";
  // Statements over 2 s with nothing happening: 20 lag intervals and 10 status intervals here
  // (the monitor used to read the xid epoch and the slot lag every lag interval). Whatever the
  // last activity asked for is done within a lag interval; 300 ms are left for it first. Counted
  // by the pool every statement goes through (pg_stat_statements may evict a rare entry while
  // other tests fill it).
  auto idle_statements = [&] {
    ioc_.run_for(std::chrono::milliseconds(300));
    auto before = pool_->statements();
    ioc_.run_for(std::chrono::seconds(2));
    return pool_->statements() - before;
  };
  EXPECT_EQ(idle_statements(), 0u);
  EXPECT_TRUE(feed_->streaming());

  // Transactions flow: the refetch, and the reference read again (the count is not blind).
  long references = pg_calls(reference);
  auto all = pool_->statements();
  test::exec(url_, "update orders set total = 61 where id = 2");
  ASSERT_TRUE(run_until(ioc_, [&] { return a.last_has("61"); }));
  ASSERT_TRUE(run_until(ioc_, [&] { return pg_calls(reference) > references; }));
  EXPECT_GE(pool_->statements() - all, 2u);  // the refetch, the reference
  EXPECT_EQ(idle_statements(), 0u);
  EXPECT_LE(pg_calls(reference), references + 2);  // once per lag interval at most
}

// xids used where the stream delivers nothing (another database here) are bounded by the WAL they
// write: past reference_wal_bytes of it, the reference is read again, though no transaction came.
TEST_F(ChangeFeedTest, WalWrittenElsewhereReadsTheXidReferenceAgain) {
  const std::string other =
      test::fresh_database("live_cf_other_" + test_name().substr(0, 20), "create table w (t text)");
  make();
  adjust_config_ = [](ChangeFeed::Config& c) { c.reference_wal_bytes = 256 * 1024; };
  start_feed();
  const std::string reference = "%pg_snapshot_xmax%";
  ioc_.run_for(std::chrono::milliseconds(300));  // what the start asked for is done
  long references = pg_calls(reference);
  double t0 = txns();
  // About 1.5 MB of WAL, in this database's cluster but not in its stream.
  test::exec(other, "insert into w select repeat('x', 200) from generate_series(1, 5000)");
  ASSERT_TRUE(run_until(ioc_, [&] { return pg_calls(reference) > references; }));
  EXPECT_EQ(txns(), t0);
}

// While the stream is down xids may be used unseen: a disconnect reads the reference again, so
// the reconnected stream's first transactions are widened with a recent one.
TEST_F(ChangeFeedTest, DisconnectReadsTheXidReferenceAgain) {
  make();
  start_feed();
  const std::string reference = "%pg_snapshot_xmax%";
  // Streaming (on a loaded machine 300 ms may not see the slot active: nothing to terminate).
  ASSERT_TRUE(run_until(ioc_, [&] { return feed_->streaming(); }));
  ioc_.run_for(std::chrono::milliseconds(300));  // what the start asked for is done
  long references = pg_calls(reference);
  test::exec(url_,
             "select pg_terminate_backend(active_pid) from pg_replication_slots where slot_name "
             "= '" +
                 slot_ + "'");
  ASSERT_TRUE(run_until(ioc_, [&] { return pg_calls(reference) > references; }));
  ASSERT_TRUE(run_until(ioc_, [&] { return feed_->streaming(); }));
}

TEST_F(ChangeFeedTest, RowsLeavingAResultArePushed) {
  make();
  start_feed();
  Sink cheap, placed;
  subscribe(cheap,
            "subscription { orders(where: {total: {_lt: 20}}, order_by: {id: asc}) { id } }");
  subscribe(placed, "subscription { orders(where: {status: {_eq: \"placed\"}}) { id } }");
  ASSERT_TRUE(run_until(ioc_, [&] { return cheap.got.size() == 1 && placed.got.size() == 1; }));
  EXPECT_EQ(cheap.last(), json::parse(R"({"orders":[{"id":2},{"id":4}]})"));
  EXPECT_EQ(placed.last(), json::parse(R"({"orders":[{"id":2}]})"));
  // First results answer no commit: no commit -> push latency yet.
  EXPECT_EQ(metrics_.value("liveql_commit_to_push_seconds"), 0);

  test::exec(url_, "update orders set total = 50 where id = 2");
  ASSERT_TRUE(run_until(ioc_, [&] { return cheap.got.size() == 2; }));
  EXPECT_EQ(cheap.last(), json::parse(R"({"orders":[{"id":4}]})"));
  EXPECT_EQ(metrics_.value("liveql_commit_to_push_seconds"), 1);

  test::exec(url_, "update orders set status = 'preparing' where id = 2");
  ASSERT_TRUE(run_until(ioc_, [&] { return placed.got.size() == 2; }));
  EXPECT_EQ(placed.last(), json::parse(R"({"orders":[]})"));
}

// Rule 11 for enums, dates and timestamps: the image's ISO text becomes the JSON spelling the
// statement prints (`T`, a timestamptz's zone with minutes, local mean time's seconds), byte
// for byte, in a database whose TimeZone is not UTC; what the writer does not read (a BC year)
// is refetched. A pool printing timestamptz in another zone than the stream's gets no written
// result showing one: a statement answers.
TEST_F(ChangeFeedTest, EnumsDatesAndTimestampsAreWrittenAsTheStatementPrintsThem) {
  test::exec(url_,
             "alter table orders add column due date, add column local_at timestamp;"
             "alter database \"live_cf_" +
                 test_name() + "\" set timezone = 'Asia/Kolkata'");
  schema_ = demo_schema(url_, catalog_);
  make();
  start_feed();
  Sink sink;
  auto by_pk = op("subscription { orders_by_pk(id: 2) { id status created_at due local_at } }");
  live_->subscribe(by_pk, "admin", sink.push());
  ASSERT_TRUE(run_until(ioc_, [&] { return sink.got.size() == 1; }));
  EXPECT_EQ(sink.got.back().value(), fresh_text(url_, by_pk));
  EXPECT_TRUE(sink.last_has("+05:30")) << sink.got.back().value();

  const double s0 = statements();
  const char* updates[] = {
      "update orders set status = 'preparing', created_at = '2026-12-03 07:19:19.123456+00', "
      "due = '2026-12-31', local_at = '2026-12-03 07:19:19.5' where id = 2",
      "update orders set created_at = '1900-01-01 00:00:00+00', due = 'infinity', "
      "local_at = '-infinity' where id = 2",
      "update orders set created_at = 'infinity', due = '0001-01-01', "
      "local_at = '2000-02-29 23:59:59' where id = 2",
      "update orders set created_at = '2026-06-01 12:00:00-03:30', due = null, local_at = null "
      "where id = 2",
  };
  std::size_t n = 1;
  for (const char* update : updates) {
    test::exec(url_, update);
    ++n;
    ASSERT_TRUE(run_until(ioc_, [&] { return sink.got.size() == n; })) << update;
    EXPECT_EQ(sink.got.back().value(), fresh_text(url_, by_pk)) << update;
  }
  EXPECT_EQ(statements(), s0);

  test::exec(url_, "update orders set local_at = '0044-03-15 12:00:00 BC' where id = 2");
  ASSERT_TRUE(run_until(ioc_, [&] { return sink.got.size() == n + 1; }));
  EXPECT_EQ(sink.got.back().value(), fresh_text(url_, by_pk));
  EXPECT_EQ(statements(), s0 + 1);
}

TEST_F(ChangeFeedTest, ATimestamptzIsWrittenOnlyWhenThePoolPrintsItInTheStreamsZone) {
  test::exec(url_, "alter database \"live_cf_" + test_name() + "\" set timezone = 'Asia/Kolkata'");
  // The pool's sessions in UTC, the stream's in the database's zone.
  const std::string utc =
      url_ + (url_.find('?') == std::string::npos ? "?" : "&") + "options=-c%20TimeZone%3DUTC";
  make({}, utc);
  start_feed();
  Sink zoned, plain;
  live_->subscribe(op("subscription { orders_by_pk(id: 2) { id created_at } }"), "admin",
                   zoned.push());
  live_->subscribe(op("subscription { orders_by_pk(id: 3) { id status } }"), "admin", plain.push());
  ASSERT_TRUE(run_until(ioc_, [&] { return zoned.got.size() == 1 && plain.got.size() == 1; }));
  EXPECT_TRUE(zoned.last_has("+00:00")) << zoned.got.back().value();
  const double s0 = statements();
  test::exec(url_, "update orders set created_at = '2026-12-03 07:00:00+00' where id = 2");
  ASSERT_TRUE(run_until(ioc_, [&] { return zoned.got.size() == 2; }));
  EXPECT_TRUE(zoned.last_has("2026-12-03T07:00:00+00:00")) << zoned.got.back().value();
  EXPECT_EQ(statements(), s0 + 1);
  test::exec(url_, "update orders set status = 'preparing' where id = 3");
  ASSERT_TRUE(run_until(ioc_, [&] { return plain.got.size() == 2; }));
  EXPECT_TRUE(plain.last_has("preparing"));
  EXPECT_EQ(statements(), s0 + 1);
}

// Timestamps are matched, not assumed: a commit names only the subscribers whose `since` its
// row passes, whatever zone the variable and the image are written in; a row moved into a
// later subscriber's range reaches it.
TEST_F(ChangeFeedTest, TimestampFiltersNameOnlyTheSubscribersTheRowPasses) {
  make();
  start_feed();
  constexpr std::string_view kSince =
      "subscription ($since: timestamptz!) { orders(where: {created_at: {_gte: $since}}, "
      "order_by: {id: asc}) { id total } }";
  Sink all, later;
  live_->subscribe(op(kSince, "", json::object{{"since", "2000-01-01T00:00:00Z"}}), "admin",
                   all.push());
  live_->subscribe(op(kSince, "", json::object{{"since", "2150-01-01T05:30:00+05:30"}}), "admin",
                   later.push());
  ASSERT_TRUE(run_until(ioc_, [&] { return all.got.size() == 1 && later.got.size() == 1; }));
  ASSERT_EQ(live_->cohort_count(), 1u);
  EXPECT_EQ(later.last(), json::parse(R"({"orders":[]})"));

  // Created now: in `all`'s range only.
  double t0 = txns(), m0 = metrics_.value("liveql_matched_subscribers_total");
  test::exec(url_, "insert into orders (id, user_id, total) values (900, 1, 5)");
  ASSERT_TRUE(run_until(ioc_, [&] { return all.got.size() == 2; }));
  wait_txns(t0, 1);
  EXPECT_EQ(metrics_.value("liveql_matched_subscribers_total"), m0 + 1);
  EXPECT_TRUE(all.last_has("900"));
  EXPECT_EQ(later.got.size(), 1u);

  // Moved to exactly the later `since` (the same instant, written in another zone): in both.
  test::exec(url_, "update orders set created_at = '2150-01-01 00:00:00+00' where id = 900");
  ASSERT_TRUE(run_until(ioc_, [&] { return later.got.size() == 2; }));
  EXPECT_TRUE(later.last_has("900"));

  // A row created before every `since`: nobody.
  t0 = txns();
  m0 = metrics_.value("liveql_matched_subscribers_total");
  test::exec(url_,
             "insert into orders (id, user_id, total, created_at) "
             "values (901, 1, 5, '1999-12-31 23:59:59.999999+00')");
  wait_txns(t0, 1);
  EXPECT_EQ(metrics_.value("liveql_matched_subscribers_total"), m0);
}

// Enum columns are matched by label: a commit names only the subscribers whose status its row
// has, and a row taking a subscriber's status reaches it.
TEST_F(ChangeFeedTest, EnumFiltersNameOnlyTheSubscribersOfTheRowsLabel) {
  make();
  start_feed();
  constexpr std::string_view kByStatus =
      "subscription ($s: order_status!) { orders(where: {status: {_eq: $s}}, "
      "order_by: {id: asc}) { id } }";
  Sink placed, preparing;
  live_->subscribe(op(kByStatus, "", json::object{{"s", "placed"}}), "admin", placed.push());
  live_->subscribe(op(kByStatus, "", json::object{{"s", "preparing"}}), "admin", preparing.push());
  ASSERT_TRUE(run_until(ioc_, [&] { return placed.got.size() == 1 && preparing.got.size() == 1; }));
  ASSERT_EQ(live_->cohort_count(), 1u);
  EXPECT_EQ(placed.last(), json::parse(R"({"orders":[{"id":2}]})"));

  // Order 3 is delivering: in neither result, and it stays so.
  double t0 = txns(), m0 = metrics_.value("liveql_matched_subscribers_total");
  test::exec(url_, "update orders set total = 50 where id = 3");
  wait_txns(t0, 1);
  EXPECT_EQ(metrics_.value("liveql_matched_subscribers_total"), m0);

  test::exec(url_, "update orders set status = 'preparing' where id = 3");
  ASSERT_TRUE(run_until(ioc_, [&] { return preparing.got.size() == 2; }));
  EXPECT_EQ(preparing.last(), json::parse(R"({"orders":[{"id":3}]})"));
  EXPECT_EQ(metrics_.value("liveql_matched_subscribers_total"), m0 + 1);
  EXPECT_EQ(placed.got.size(), 1u);
}

// Rule 11: a result that is one row picked by its key is written from the commit's row image,
// with no statement, byte for byte as the statement prints it (escapes, nulls, booleans,
// __typename, a list or an object). A change the image cannot write (a delete) is refetched;
// a filter on another column is not a keyed row (its cohort refetches).
TEST_F(ChangeFeedTest, OneRowByItsKeyIsWrittenFromTheRowImageAsTheStatementPrintsIt) {
  make();
  start_feed();
  Sink by_pk, list, other;
  auto by_pk_op =
      op("subscription { delivery_agents_by_pk(id: 1) { id name phone active "
         "__typename } }");
  auto list_op =
      op("subscription ($id: Int!) { delivery_agents(where: {id: {_eq: $id}}) "
         "{ phone active the_id: id } }",
         "", json::object{{"id", 1}});
  live_->subscribe(by_pk_op, "admin", by_pk.push());
  live_->subscribe(list_op, "admin", list.push());
  subscribe(other, "subscription { delivery_agents(where: {name: {_eq: \"x\"}}) { id } }");
  ASSERT_TRUE(run_until(ioc_, [&] {
    return by_pk.got.size() == 1 && list.got.size() == 1 && other.got.size() == 1;
  }));
  EXPECT_EQ(by_pk.got.back().value(), fresh_text(url_, by_pk_op));

  const double s0 = statements();
  const char* updates[] = {
      "update delivery_agents set name = E'quote \" back \\\\ nl \\n tab \\t cr \\r ff \\f "
      "bs \\b ctl \\x01 \\x1f del \\x7f / é ✓ 😀', phone = null, active = false where id = 1",
      "update delivery_agents set name = '', phone = '{\"json\": [1]}', active = true where id = 1",
      "update delivery_agents set name = 'x', phone = '1' where id = 1",
  };
  std::size_t n = 1;
  for (const char* update : updates) {
    test::exec(url_, update);
    ++n;
    ASSERT_TRUE(run_until(ioc_, [&] { return by_pk.got.size() == n && list.got.size() == n; }))
        << update;
    EXPECT_EQ(by_pk.got.back().value(), fresh_text(url_, by_pk_op)) << update;
    EXPECT_EQ(list.got.back().value(), fresh_text(url_, list_op)) << update;
  }
  // The last update moved the agent into `other`'s result: refetched, the only statement.
  ASSERT_TRUE(run_until(ioc_, [&] { return other.got.size() == 2; }));
  EXPECT_EQ(statements(), s0 + 1);
  EXPECT_GE(metrics_.value("liveql_row_image_results_total"), 6);
  std::uint64_t row_images = 0;
  const json::value cohorts = live_->cohorts_json();
  for (const auto& c : cohorts.as_array())
    row_images += c.as_object().at("row_images").to_number<std::uint64_t>();
  EXPECT_EQ(row_images, 6u);

  // An update that changes nothing the results show pushes nothing (`other`, which holds the
  // agent now, is refetched: one statement).
  const double t0 = txns();
  test::exec(url_, "update delivery_agents set name = name where id = 1");
  wait_txns(t0, 1);
  ASSERT_TRUE(run_until(ioc_, [&] { return statements() == s0 + 2; }));
  EXPECT_EQ(by_pk.got.size(), n);
  EXPECT_EQ(list.got.size(), n);

  // A new row under a subscriber's key enters its result: refetched (the statement's result keys
  // are what finds a row leaving); then its updates are written, and its delete is refetched.
  Sink later;
  auto later_op = op("subscription { delivery_agents_by_pk(id: 1000) { id name } }");
  live_->subscribe(later_op, "admin", later.push());
  ASSERT_TRUE(run_until(ioc_, [&] { return later.got.size() == 1; }));
  EXPECT_EQ(later.last(), json::parse(R"({"delivery_agents_by_pk":null})"));
  const double s1 = statements();
  test::exec(url_, "insert into delivery_agents (id, name) values (1000, 'New')");
  ASSERT_TRUE(run_until(ioc_, [&] { return later.got.size() == 2; }));
  EXPECT_EQ(later.got.back().value(), fresh_text(url_, later_op));
  EXPECT_EQ(statements(), s1 + 1);
  test::exec(url_, "update delivery_agents set name = 'Newer' where id = 1000");
  ASSERT_TRUE(run_until(ioc_, [&] { return later.got.size() == 3; }));
  EXPECT_EQ(later.got.back().value(), fresh_text(url_, later_op));
  EXPECT_EQ(statements(), s1 + 1);
  test::exec(url_, "delete from delivery_agents where id = 1000");
  ASSERT_TRUE(run_until(ioc_, [&] { return later.got.size() == 4; }));
  EXPECT_EQ(later.last(), json::parse(R"({"delivery_agents_by_pk":null})"));
  EXPECT_EQ(statements(), s1 + 2);
}

// Rule 11 under a role's permission: the key's second value (users: id = X-Hasura-User-Id) and
// an equality on another column (orders: user_id = X-Hasura-User-Id), checked against the image;
// a row that fails the check is refetched.
TEST_F(ChangeFeedTest, APermissionsEqualitiesAreCheckedAgainstTheRowImage) {
  make();
  start_feed();
  Sink me, order;
  auto me_op = op("subscription { users_by_pk(id: 1) { id name email } }", "1");
  auto order_op = op("subscription { orders_by_pk(id: 2) { id user_id delivery_agent_id } }", "1");
  live_->subscribe(me_op, "user", me.push());
  live_->subscribe(order_op, "user", order.push());
  ASSERT_TRUE(run_until(ioc_, [&] { return me.got.size() == 1 && order.got.size() == 1; }));
  EXPECT_TRUE(order.last().at("orders_by_pk").is_object()) << order.got.back().value();

  expect_written({{&me, &me_op}, {&order, &order_op}},
                 {"update users set name = 'Ann' where id = 1",
                  "update orders set delivery_agent_id = 1 where id = 2"});
  const double s0 = statements();

  // The order moves to another user: its image fails the check, the refetch finds nothing.
  test::exec(url_, "update orders set user_id = 3 where id = 2");
  ASSERT_TRUE(run_until(ioc_, [&] { return order.got.size() == 3; }));
  EXPECT_EQ(order.last(), json::parse(R"({"orders_by_pk":null})"));
  EXPECT_EQ(statements(), s0 + 1);

  // A row entering through a checked column is refetched, so that its result keys find it
  // leaving: the update that takes it out shows only the new name, which the predicate alone
  // cannot tell was "Zed" (the oracle found this, seed 45314411566936).
  Sink zed;
  auto zed_op = op("subscription { users(where: {name: {_eq: \"Zed\"}}) { id name } }", "1");
  live_->subscribe(zed_op, "user", zed.push());
  ASSERT_TRUE(run_until(ioc_, [&] { return zed.got.size() == 1; }));
  EXPECT_EQ(zed.last(), json::parse(R"({"users":[]})"));
  test::exec(url_, "update users set name = 'Zed' where id = 1");
  ASSERT_TRUE(run_until(ioc_, [&] { return zed.got.size() == 2; }));
  EXPECT_EQ(zed.last(), json::parse(R"({"users":[{"id":1,"name":"Zed"}]})"));
  test::exec(url_, "update users set name = 'Ann' where id = 1");
  ASSERT_TRUE(run_until(ioc_, [&] { return zed.got.size() == 3; }));
  EXPECT_EQ(zed.last(), json::parse(R"({"users":[]})"));

  // Boolean and enum equalities are checked as well: written while they hold, refetched (and
  // found empty) when the row stops matching.
  Sink active, placed;
  auto active_op = op(
      "subscription { delivery_agents(where: {id: {_eq: 1}, active: {_eq: true}}) { id name } }");
  auto placed_op =
      op("subscription { orders(where: {id: {_eq: 1}, status: {_eq: \"delivered\"}}) "
         "{ id user_id } }");
  live_->subscribe(active_op, "admin", active.push());
  live_->subscribe(placed_op, "admin", placed.push());
  ASSERT_TRUE(run_until(ioc_, [&] { return active.got.size() == 1 && placed.got.size() == 1; }));
  expect_written({{&active, &active_op}, {&placed, &placed_op}},
                 {"update delivery_agents set name = 'Bo' where id = 1",
                  "update orders set user_id = 2 where id = 1"});
  const double s1 = statements();
  test::exec(url_, "update delivery_agents set active = false where id = 1");
  test::exec(url_, "update orders set status = 'cancelled' where id = 1");
  ASSERT_TRUE(run_until(ioc_, [&] { return active.got.size() == 3 && placed.got.size() == 3; }));
  EXPECT_EQ(active.last(), json::parse(R"({"delivery_agents":[]})"));
  EXPECT_EQ(placed.last(), json::parse(R"({"orders":[]})"));
  EXPECT_EQ(statements(), s1 + 2);
}

TEST_F(ChangeFeedTest, ChildInsertReachesTheSubscriberHoldingItsParent) {
  make();
  start_feed();
  Sink a, b;
  my_orders(a, 1);
  my_orders(b, 2);
  ASSERT_TRUE(run_until(ioc_, [&] { return a.got.size() == 1 && b.got.size() == 1; }));
  double s0 = statements();
  test::exec(url_,
             "insert into order_items (order_id, name, quantity, price) "
             "values (2, 'Gyoza', 1, 5)");
  ASSERT_TRUE(run_until(ioc_, [&] { return a.got.size() == 2; }));
  EXPECT_TRUE(a.last_has("Gyoza"));
  EXPECT_EQ(statements(), s0 + 1);
  EXPECT_EQ(b.got.size(), 1u);
}

TEST_F(ChangeFeedTest, IntractableAndPollTablesPollForcedEventTablesMarkTheCohort) {
  make({.refetch_interval = std::chrono::milliseconds(50)});
  saved_poll_override("public.delivery_agents");
  start_feed();
  Sink ilike, agents, forced;
  subscribe(ilike, "subscription { users(where: {name: {_ilike: \"%o%\"}}) { id name } }");
  subscribe(agents, "subscription { delivery_agents(order_by: {id: asc}) { id name } }");
  // orders has live_mode: event in the demo metadata.
  subscribe(forced, "subscription { orders(where: {notes: {_has_key: \"door\"}}) { id } }");
  ASSERT_TRUE(run_until(
      ioc_, [&] { return !ilike.got.empty() && !agents.got.empty() && !forced.got.empty(); }));
  ASSERT_EQ(live_->cohort_count(), 3u);
  auto c = live_->cohorts_json().as_array();
  EXPECT_EQ(c[0].at("mode").as_string(), "poll");
  EXPECT_NE(json::serialize(c[0].at("mode_reason")).find("ilike"), std::string::npos)
      << json::serialize(c[0]);
  EXPECT_EQ(c[1].at("mode").as_string(), "poll");
  EXPECT_NE(json::serialize(c[1].at("mode_reason")).find("delivery_agents is in poll mode"),
            std::string::npos)
      << json::serialize(c[1]);
  EXPECT_EQ(c[2].at("mode").as_string(), "event");
  EXPECT_NE(json::serialize(c[2].at("mode_reason")).find("forced"), std::string::npos)
      << json::serialize(c[2]);

  test::exec(url_, "update users set name = 'Oscar' where id = 1");
  ASSERT_TRUE(run_until(ioc_, [&] { return ilike.last_has("Oscar"); }));
  test::exec(url_, "update delivery_agents set name = 'Dana' where id = 1");
  ASSERT_TRUE(run_until(ioc_, [&] { return agents.last_has("Dana"); }));
  test::exec(url_, "update orders set notes = '{\"door\": \"front\"}' where id = 3");
  ASSERT_TRUE(run_until(ioc_, [&] { return forced.got.size() == 2; }));
  EXPECT_EQ(forced.last(), json::parse(R"({"orders":[{"id":1},{"id":3}]})"));
}

// A table in poll mode is left out of the stream (no cohort reading it is in event mode); set to
// event, the stream reconnects and follows it, from before the refetch that switches its
// cohorts: a commit made between the switch and the reconnect is not missed. The poll interval
// is an hour, so only the stream can bring these results.
TEST_F(ChangeFeedTest, PollTablesAreLeftOutOfTheStreamUntilTheyTurnEvent) {
  make({.refetch_interval = std::chrono::hours(1)});
  saved_poll_override("public.delivery_agents");
  adjust_config_ = [](ChangeFeed::Config& c) {
    c.stream.tables = {{"public", "users"}, {"public", "delivery_agents"}, {"public", "orders"}};
  };
  start_feed();
  Sink agents;
  subscribe(agents, "subscription { delivery_agents(order_by: {id: asc}) { id name } }");
  ASSERT_TRUE(run_until(ioc_, [&] { return !agents.got.empty(); }));
  EXPECT_EQ(cohort(0).at("mode").as_string(), "poll");

  const double t0 = txns();
  test::exec(url_, "update delivery_agents set name = 'Dana' where id = 1");
  test::exec(url_, "update users set name = 'Oscar' where id = 1");
  wait_txns(t0, 1);
  EXPECT_EQ(txns(), t0 + 1) << "the poll table's commit was decoded";

  ASSERT_TRUE(feed_->set_table_mode("public.delivery_agents", LiveMode::kEvent).ok());
  test::exec(url_, "update delivery_agents set name = 'Eve' where id = 2");  // before reconnecting
  ASSERT_TRUE(run_until(ioc_, [&] { return agents.last_has("Dana") && agents.last_has("Eve"); }));
  EXPECT_EQ(cohort(0).at("mode").as_string(), "event");
  ASSERT_TRUE(run_until(ioc_, [&] { return feed_->streaming(); }));
  const double t1 = txns();
  test::exec(url_, "update delivery_agents set name = 'Fay' where id = 1");
  ASSERT_TRUE(run_until(ioc_, [&] { return agents.last_has("Fay"); }));
  EXPECT_GE(txns(), t1 + 1);
}

// The write-rate fallback (live/src/write_fallback.hpp) with short times: 20 subscribers each
// on its own order, a writer updating every order as fast as it can (each commit asks each
// subscriber for a result: far more than one per 200 ms interval, so the budget holds the
// cohort). The table falls back to polling and out of the stream; subscribers still follow the
// writes; when they stop, the table is streamed again and event mode resumes, every subscriber
// on the latest value.
TEST_F(ChangeFeedTest, HeavyWritesPollTheTableOutOfTheStreamUntilTheyStop) {
  test::exec(url_,
             "insert into orders (user_id, status, total) select 1, 'placed', g "
             "from generate_series(1, 16) g");
  make({.refetch_interval = std::chrono::milliseconds(200)});
  adjust_config_ = [](ChangeFeed::Config& c) {
    c.stream.tables = {{"public", "users"}, {"public", "orders"}};
    c.fallback_tick = std::chrono::milliseconds(100);
    c.fallback_hold = std::chrono::milliseconds(1500);
    c.fallback_dwell = std::chrono::milliseconds(2000);
  };
  start_feed();
  constexpr std::string_view kOwn =
      "subscription ($id: Int!) { orders(where: {id: {_eq: $id}}) { id total } }";
  std::vector<Sink> sinks(20);
  std::vector<compiler::CompiledOperation> ops;
  for (int id = 1; id <= 20; ++id) {
    ops.push_back(op(kOwn, "", json::object{{"id", id}}));
    live_->subscribe(ops.back(), "admin", sinks[id - 1].push());
  }
  ASSERT_TRUE(run_until(ioc_, [&] {
    return std::all_of(sinks.begin(), sinks.end(), [](const Sink& s) { return !s.got.empty(); });
  }));
  ASSERT_EQ(cohort(0).at("mode").as_string(), "event");
  auto orders = [&] {
    for (const auto& t : feed_->tables_json())
      if (t.at("table") == "public.orders") return t.as_object();
    ADD_FAILURE() << "no public.orders";
    return json::object{};
  };
  EXPECT_TRUE(orders().at("write_fallback").is_null());
  EXPECT_TRUE(orders().at("streamed").as_bool());

  std::atomic<bool> writing{true};
  std::atomic<long> commits{0};
  std::thread writer([&] {
    PGconn* conn = PQconnectdb(url_.c_str());
    while (writing) {
      PQclear(PQexec(conn, "update orders set total = total + 1"));
      ++commits;
    }
    PQfinish(conn);
  });
  struct Join {
    std::atomic<bool>& flag;
    std::thread& t;
    ~Join() {
      flag = false;
      if (t.joinable()) t.join();
    }
  } join{writing, writer};

  ASSERT_TRUE(run_until(
      ioc_, [&] { return !orders().at("write_fallback").is_null(); }, std::chrono::seconds(30)))
      << json::serialize(live_->cohorts_json());
  EXPECT_FALSE(orders().at("streamed").as_bool());
  EXPECT_NE(orders().at("write_fallback").as_string().find("row changes/s for 20 subscribers"),
            json::string::npos)
      << orders().at("write_fallback");
  EXPECT_EQ(cohort(0).at("mode").as_string(), "poll");
  EXPECT_EQ(cohort(0).at("poll_period_ms").as_double(), 160.0);  // 0.8 × the interval
  EXPECT_EQ(metrics_.value("liveql_write_fallback_tables"), 1);

  // Left out of the stream: once the reconnect is done, the writer's commits decode no more
  // transactions, while subscribers keep getting new totals from the poll rounds.
  double t0 = txns();
  long c0 = commits;
  ASSERT_TRUE(run_until(ioc_, [&] {
    ioc_.run_for(std::chrono::milliseconds(300));
    bool quiet = txns() == t0;
    t0 = txns();
    return quiet && feed_->streaming();
  }));
  const std::size_t pushes0 = sinks[0].got.size();
  ioc_.run_for(std::chrono::milliseconds(1000));
  EXPECT_EQ(txns(), t0) << "the table in fallback was decoded";
  EXPECT_GT(commits, c0 + 10);
  EXPECT_GE(sinks[0].got.size(), pushes0 + 3);  // polled every 160 ms

  writing = false;
  writer.join();
  ASSERT_TRUE(run_until(
      ioc_, [&] { return orders().at("write_fallback").is_null(); }, std::chrono::seconds(30)));
  EXPECT_TRUE(orders().at("streamed").as_bool());
  ASSERT_TRUE(run_until(ioc_, [&] { return cohort(0).at("mode").as_string() == "event"; }));
  EXPECT_EQ(metrics_.value("liveql_write_fallback_switches_total"), 2);
  EXPECT_EQ(metrics_.value("liveql_write_fallback_tables"), 0);
  // Every subscriber ends on the latest value (the switch back refetched them) ...
  ASSERT_TRUE(run_until(ioc_, [&] {
    for (std::size_t i = 0; i < sinks.size(); ++i)
      if (sinks[i].got.back().value() != fresh_text(url_, ops[i])) return false;
    return true;
  }));
  // ... and the next commit is decoded and pushed again.
  ASSERT_TRUE(run_until(ioc_, [&] { return feed_->streaming(); }));
  const double t1 = txns();
  // (The old connection may still be running, leaving the table out: the new one decodes the
  // commit again from the acknowledged position.)
  test::exec(url_, "update orders set total = -1234.5 where id = 1");
  ASSERT_TRUE(run_until(ioc_, [&] { return sinks[0].last_has("-1234.50") && txns() >= t1 + 1; }));
}

TEST_F(ChangeFeedTest, BurstOf200WritesCoalescesAndTheSlotCatchesUp) {
  make();
  start_feed();
  Sink a;
  my_orders(a, 1);
  ASSERT_TRUE(run_until(ioc_, [&] { return a.got.size() == 1; }));
  double s0 = statements(), t0 = txns();
  auto slot_lsn = [&](const std::string& column) {
    return *parse_lsn(test::query(url_, "select " + column +
                                            "::text from pg_replication_slots where slot_name = '" +
                                            slot_ + "'")
                          .at(0)
                          .at(0));
  };
  const Lsn confirmed_before = slot_lsn("confirmed_flush_lsn");
  std::string burst;
  for (int i = 1; i <= 200; ++i) {
    burst += "begin; update orders set total = " + std::to_string(i) + " where id = 2; commit;\n";
  }
  test::exec(url_, burst);  // the feed is paused meanwhile (this thread runs its io_context)
  // The lag gauge, from the stream, while the feed catches up: above 0 until the commits are
  // acknowledged, and never beyond what the slot really retained.
  double max_lag = 0;
  ASSERT_TRUE(run_until(ioc_, [&] {
    max_lag = std::max(max_lag, metrics_.value("liveql_replication_lag_bytes"));
    return txns() >= t0 + 200;
  }));
  for (int i = 0; i < 5; ++i) ioc_.poll();
  EXPECT_GT(max_lag, 0);
  EXPECT_LE(max_lag, static_cast<double>(slot_lsn("pg_current_wal_lsn()") - confirmed_before));
  ASSERT_TRUE(run_until(ioc_, [&] { return a.last_has("200.00"); }));
  double refetch_statements = statements() - s0;
  EXPECT_GE(refetch_statements, 1);
  EXPECT_LE(refetch_statements, 200);
  std::printf("200 commits to one subscriber: %.0f refetch statements\n", refetch_statements);
  // Every matched position is saved then acknowledged: the slot retains (almost) nothing.
  ASSERT_TRUE(run_until(ioc_, [&] {
    auto lag = test::query(url_,
                           "select coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), "
                           "confirmed_flush_lsn), 0)::bigint from pg_replication_slots "
                           "where slot_name = '" +
                               slot_ + "'");
    return std::stol(lag.at(0).at(0)) < 64 * 1024;
  }));
  ASSERT_TRUE(run_until(ioc_, [&] {
    return metrics_.value("liveql_replication_lag_bytes") < 64 * 1024 &&
           metrics_.value("liveql_replication_acknowledged_lsn") > 0;
  }));
  auto saved = store_->load(slot_);
  ASSERT_TRUE(saved.ok() && saved.value());
  EXPECT_GT(saved.value()->confirmed_lsn, 0u);
}

TEST_F(ChangeFeedTest, CommitsBeforeTheRefetchStartsCostOneRefetch) {
  make();
  Sink a;
  auto id = my_orders(a, 1);
  ASSERT_TRUE(run_until(ioc_, [&] { return a.got.size() == 1; }));
  double s0 = statements();
  for (std::uint64_t x = 1; x <= 5; ++x) live_->refetch({id}, std::nullopt);
  ASSERT_TRUE(
      run_until(ioc_, [&] { return live_->cohorts_json().as_array().at(0).at("refetches") == 1; }));
  for (int i = 0; i < 5; ++i) ioc_.poll();
  EXPECT_EQ(statements(), s0 + 1);
}

TEST_F(ChangeFeedTest, RefetchCarriesTheTransactionsXid8) {
  make();
  start_feed();
  Sink a;
  my_orders(a, 1);
  ASSERT_TRUE(run_until(ioc_, [&] { return a.got.size() == 1; }));
  double t0 = txns();
  auto xid = test::query(url_,
                         "update orders set total = 5 where id = 2 "
                         "returning pg_current_xact_id()::text")[0][0];
  wait_txns(t0, 1);
  EXPECT_EQ(feed_->last_xid8(), std::stoull(xid));
  ASSERT_TRUE(run_until(ioc_, [&] { return a.got.size() == 2; }));
}

TEST_F(ChangeFeedTest, SlotAdvancedBehindOurBackIsAGapAndRefetchesEverything) {
  make();
  start_feed();
  Sink a;
  my_orders(a, 1);
  ASSERT_TRUE(run_until(ioc_, [&] { return a.got.size() == 1; }));
  EXPECT_EQ(feed_->gaps(), 1u);  // first start: the slot was created
  feed_->stop();
  feed_.reset();
  EXPECT_NE(cohort(0).at("mode").as_string(), "event");
  // A change the stream never delivers to us: the slot skips past it.
  test::exec(url_, "update orders set total = 31 where id = 2");
  ASSERT_TRUE(run_until(ioc_, [&] {
    try {
      test::exec(url_, "select pg_replication_slot_advance('" + slot_ + "', pg_current_wal_lsn())");
      return true;
    } catch (const std::exception&) {
      return false;  // still active for a moment after stop()
    }
  }));
  a.got.clear();
  start_feed();
  ASSERT_TRUE(run_until(ioc_, [&] { return feed_->gaps() == 1 && a.last_has("31"); }));
  EXPECT_EQ(metrics_.value("liveql_replication_gaps_total"), 2);
  EXPECT_EQ(cohort(0).at("mode").as_string(), "event");
}

// A state dir whose record belongs to another system (restored from elsewhere, or the database
// URL now points at another cluster): a gap, and the record's position, which lies in an
// unrelated WAL, must neither skip this server's changes nor stall acknowledgements.
TEST_F(ChangeFeedTest, RecordOfAnotherSystemIsAGapAndItsPositionIsDropped) {
  make();
  auto s = state::StateStore::open(state_dir_.string());
  ASSERT_TRUE(s.ok()) << s.error().message;
  store_ = std::move(s.value());
  Lsn far = *parse_lsn(test::query(url_, "select pg_current_wal_lsn()::text").at(0).at(0)) +
            (Lsn{1} << 40);
  ASSERT_TRUE(store_->save({slot_, "1", 1, "elsewhere", far}).ok());
  start_feed();
  EXPECT_EQ(feed_->gaps(), 1u);
  Sink a;
  my_orders(a, 1);
  ASSERT_TRUE(run_until(ioc_, [&] { return a.got.size() == 1; }));
  ASSERT_TRUE(run_until(ioc_, [&] { return cohort(0).at("mode").as_string() == "event"; }));
  test::exec(url_, "update orders set total = 51 where id = 2");
  ASSERT_TRUE(run_until(ioc_, [&] { return a.last_has("51"); }));
  Lsn written = *parse_lsn(test::query(url_, "select pg_current_wal_lsn()::text").at(0).at(0));
  // Saved and acknowledged again: the record now describes this system, below `far`.
  ASSERT_TRUE(run_until(ioc_, [&] {
    auto rec = store_->load(slot_);
    return rec.ok() && rec.value() && rec.value()->confirmed_lsn >= written &&
           rec.value()->confirmed_lsn < far && rec.value()->system_identifier != "1";
  }));
  ASSERT_TRUE(run_until(ioc_, [&] {
    auto rows = test::query(url_,
                            "select confirmed_flush_lsn::text from pg_replication_slots where "
                            "slot_name = '" +
                                slot_ + "'");
    return !rows.empty() && *parse_lsn(rows[0][0]) >= written;
  }));
  EXPECT_EQ(feed_->gaps(), 1u);
}

TEST_F(ChangeFeedTest, UnavailableReplicationPollsThenEventModeResumes) {
  make({.refetch_interval = std::chrono::milliseconds(50)});
  // A slot of the same name owned by another plugin: the stream cannot use it.
  test::exec(url_, "select pg_create_logical_replication_slot('" + slot_ + "', 'test_decoding')");
  start_feed(false);
  Sink a;
  my_orders(a, 1);
  ASSERT_TRUE(run_until(ioc_, [&] { return !feed_->health_message().empty() && !a.got.empty(); }));
  ASSERT_TRUE(run_until(ioc_, [&] {
    return feed_->health_message().find("output_plugin_libraries") != std::string::npos;
  })) << feed_->health_message();
  EXPECT_EQ(cohort(0).at("mode").as_string(), "poll");
  EXPECT_NE(json::serialize(cohort(0).at("mode_reason")).find("unavailable"), std::string::npos);
  test::exec(url_, "update orders set total = 41 where id = 2");
  ASSERT_TRUE(run_until(ioc_, [&] { return a.last_has("41"); }));  // polled

  test::exec(url_, "select pg_drop_replication_slot('" + slot_ + "')");
  ASSERT_TRUE(run_until(ioc_, [&] { return live_->event_source_available(); }));
  EXPECT_TRUE(feed_->health_message().empty());
  EXPECT_EQ(cohort(0).at("mode").as_string(), "event");
  test::exec(url_, "update orders set total = 42 where id = 2");
  ASSERT_TRUE(run_until(ioc_, [&] { return a.last_has("42"); }));
}

}  // namespace
}  // namespace liveql::live

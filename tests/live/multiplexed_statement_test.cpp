// Parameters and rows of the multiplexed statement (live/src/multiplexed_statement.hpp).
#include "multiplexed_statement.hpp"

#include <gtest/gtest.h>

namespace liveql::live {
namespace {

TEST(MultiplexedStatement, ParamsNumberTheVarsAndQuoteEachAsAnArrayElement) {
  auto p = statement_params({R"({"id":1})", R"({"s":"a\"b\\c"})"}, false, {});
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0], "{1,2}");
  EXPECT_EQ(p[1], R"({"{\"id\":1}","{\"s\":\"a\\\"b\\\\c\"}"})");
}

TEST(MultiplexedStatement, XidParamOnlyWhenTheSqlTakesIt) {
  auto with = statement_params({"{}"}, true, {42});
  ASSERT_EQ(with.size(), 3u);
  EXPECT_EQ(with[2], "{42}");
  auto several = statement_params({"{}"}, true, {7, 42, 4294967396});
  EXPECT_EQ(several[2], "{7,42,4294967396}");
  auto null_xid = statement_params({"{}"}, true, {});
  ASSERT_EQ(null_xid.size(), 3u);
  EXPECT_FALSE(null_xid[2].has_value());
  EXPECT_EQ(statement_params({"{}"}, false, {42}).size(), 2u);
}

TEST(MultiplexedStatement, CapacityIsTheWholeQueueFromTheBatchSizeToItsGrowthLimit) {
  // Nothing or little queued: the batch size (a partial statement is the caller's business).
  EXPECT_EQ(statement_capacity(0, 100), 100u);
  EXPECT_EQ(statement_capacity(50, 100), 100u);
  EXPECT_EQ(statement_capacity(100, 100), 100u);
  // More: all of it in one statement (one own-row commit of 380 rows: one statement, not four).
  EXPECT_EQ(statement_capacity(101, 100), 101u);
  EXPECT_EQ(statement_capacity(380, 100), 380u);
  // Capped at kMaxStatementGrowth × batch_size: the rest goes to further statements.
  EXPECT_EQ(statement_capacity(1000, 100), 1000u);
  EXPECT_EQ(statement_capacity(1'000'000, 100), 100 * kMaxStatementGrowth);
  // A batch size of 0 is taken as 1.
  EXPECT_EQ(statement_capacity(0, 0), 1u);
  EXPECT_EQ(statement_capacity(50, 0), kMaxStatementGrowth);
}

TEST(MultiplexedStatement, EmptyArrayLiteral) { EXPECT_EQ(quoted_array_literal({}), "{}"); }

TEST(MultiplexedStatement, RowsAreReadByColumnName) {
  QueryResult r;
  r.columns = {"keys", "data", "id", "visible"};
  r.rows = {{"[1]", R"({"a":1})", "2", "t"}, {std::nullopt, std::nullopt, "1", "t"}};
  StatementRows rows(r);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows.index(0, 2), 2u);
  EXPECT_EQ(rows.data(0), R"({"a":1})");
  EXPECT_EQ(rows.keys(0), "[1]");
  EXPECT_EQ(rows.data(1), "null");
  EXPECT_EQ(rows.keys(1), "[]");
  EXPECT_TRUE(rows.all_visible());
  r.rows[1][3] = "f";
  EXPECT_FALSE(StatementRows(r).all_visible());
}

TEST(MultiplexedStatement, BadRowIdsAreIgnored) {
  QueryResult r;
  r.columns = {"id", "data"};
  r.rows = {{"0", "{}"}, {"3", "{}"}, {"x", "{}"}, {"1x", "{}"}, {std::nullopt, "{}"}, {"2", "{}"}};
  StatementRows rows(r);
  for (std::size_t i = 0; i + 1 < rows.size(); ++i) EXPECT_EQ(rows.index(i, 2), 0u) << i;
  EXPECT_EQ(rows.index(5, 2), 2u);
  EXPECT_FALSE(rows.keys(0).has_value());  // no keys column
  EXPECT_TRUE(rows.all_visible());         // no visible column
}

TEST(MultiplexedStatement, NoIdOrDataColumnMeansNoUsableRow) {
  QueryResult r;
  r.columns = {"id"};
  r.rows = {{"1"}};
  EXPECT_EQ(StatementRows(r).index(0, 1), 0u);
}

}  // namespace
}  // namespace liveql::live

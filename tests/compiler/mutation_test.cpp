// Shape of the mutation SQL (no database: tests/compiler/mutation_pgtest.cpp runs it) and the
// mapping of PostgreSQL errors to Hasura's.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "liveql/compiler/ir_mutation.hpp"
#include "liveql/compiler/pg_error.hpp"
#include "liveql/compiler/sql.hpp"
#include "liveql/compiler/sql_mutation.hpp"

namespace liveql {
namespace {

using MK = ir::MutationField::Kind;

size_t count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

ir::Param param(std::string key, std::string type) { return ir::Param{std::move(key), type}; }

ir::Insert authors(size_t rows) {
  ir::Insert ins;
  ins.table = {"public", "authors"};
  ins.primary_key = {"id"};
  for (size_t i = 0; i < rows; ++i) {
    ir::InsertRow r;
    r.values.push_back({"name", param("n" + std::to_string(i), "text")});
    if (i == 0) r.values.push_back({"tenant", param("t", "text")});
    ins.rows.push_back(r);
  }
  return ins;
}

ir::BoolExpPtr eq(std::string column, std::string key) {
  auto e = std::make_shared<ir::BoolExp>();
  e->kind = ir::BoolExp::Kind::kCompare;
  e->column = std::move(column);
  e->column_type = "text";
  e->param = param(std::move(key), "text");
  return e;
}

ir::MutationOutputField affected() {
  ir::MutationOutputField o;
  o.alias = "affected_rows";
  return o;
}

TEST(MutationSqlShapeTest, FlatInsertIsOneStatementWithOneInsert) {
  ir::MutationField f;
  f.kind = MK::kInsert;
  f.insert = authors(3);
  f.output = {affected()};
  const auto statements = sql::mutation_statements(f);
  ASSERT_EQ(statements.size(), 1u);
  const std::string& s = statements[0];
  EXPECT_EQ(count(s, "INSERT INTO \"public\".\"authors\""), 1u) << s;
  // Three rows; the rows without a tenant take its default.
  EXPECT_EQ(count(s, "DEFAULT"), 2u) << s;
  EXPECT_EQ(count(s, "$1::json->>'n"), 3u) << s;
  EXPECT_EQ(count(s, "$2"), 0u) << s;
  // No check: no check CTE and no marker.
  EXPECT_EQ(s.find(sql::kCheckViolationMarker), std::string::npos) << s;
}

TEST(MutationSqlShapeTest, ChecksAndConflictsAppearOnlyWhenAsked) {
  ir::MutationField f;
  f.kind = MK::kInsert;
  f.insert = authors(1);
  f.insert.check = eq("tenant", "c");
  f.insert.on_conflict =
      ir::OnConflict{"authors_name_key", {"tenant"}, {}, eq("tenant", "w"), eq("tenant", "uc")};
  f.output = {affected()};
  const std::string s = sql::mutation_statements(f).at(0);
  EXPECT_NE(s.find("ON CONFLICT ON CONSTRAINT \"authors_name_key\" DO UPDATE SET \"tenant\" = "
                   "EXCLUDED.\"tenant\" WHERE"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("xmax = 0"), std::string::npos) << s;
  EXPECT_EQ(count(s, std::string(sql::kCheckViolationMarker)), 1u) << s;

  f.insert.on_conflict->update_columns.clear();
  const std::string nothing = sql::mutation_statements(f).at(0);
  EXPECT_NE(nothing.find("DO NOTHING"), std::string::npos) << nothing;
  EXPECT_EQ(nothing.find("xmax"), std::string::npos) << nothing;
}

TEST(MutationSqlShapeTest, NestedInsertsChainOneCtePerRow) {
  ir::MutationField f;
  f.kind = MK::kInsert;
  f.insert = authors(2);
  auto articles = std::make_shared<ir::Insert>();
  articles->table = {"public", "articles"};
  ir::InsertRow a;
  a.values.push_back({"title", param("title", "text")});
  articles->rows = {a, a};
  f.insert.rows[0].array_relationships.push_back(
      {ir::Join{"articles", {"public", "articles"}, {{"id", "author_id"}}, true}, articles});
  f.output = {affected()};
  const std::string s = sql::mutation_statements(f).at(0);
  // Two authors one by one, then both articles of the first in one insert linked to it.
  EXPECT_EQ(count(s, "INSERT INTO \"public\".\"authors\""), 2u) << s;
  EXPECT_EQ(count(s, "INSERT INTO \"public\".\"articles\""), 1u) << s;
  EXPECT_EQ(count(s, "(SELECT (w1.w).\"id\" FROM (SELECT count(*) AS n FROM w1)"), 2u) << s;
  EXPECT_NE(s.find("(SELECT count(*) FROM w1) + (SELECT count(*) FROM w2) + (SELECT count(*) "
                   "FROM w3)"),
            std::string::npos)
      << s;
}

TEST(MutationSqlShapeTest, UpdateManyIsOneStatementPerUpdate) {
  ir::MutationField f;
  f.kind = MK::kUpdateMany;
  ir::Update u;
  u.table = {"public", "authors"};
  u.where = eq("name", "w");
  u.set = {{ir::ColumnUpdate::Op::kSet, "tenant", param("t", "text")}};
  f.updates = {u, u, u};
  f.output = {affected()};
  const auto statements = sql::mutation_statements(f);
  ASSERT_EQ(statements.size(), 3u);
  for (const auto& s : statements)
    EXPECT_NE(s.find("UPDATE \"public\".\"authors\" AS liveql_w SET \"tenant\" = "),
              std::string::npos)
        << s;
}

TEST(MutationSqlShapeTest, IdentifiersAreQuoted) {
  ir::MutationField f;
  f.kind = MK::kDelete;
  f.del.table = {"odd\"schema", "odd table"};
  f.output = {affected()};
  const std::string s = sql::mutation_statements(f).at(0);
  EXPECT_NE(s.find("DELETE FROM \"odd\"\"schema\".\"odd table\" AS liveql_w RETURNING"),
            std::string::npos)
      << s;
}

struct MappingCase {
  std::string sqlstate, message;
  ErrorCode code;
  std::string expected;
};

TEST(MutationErrorTest, MapsEachStateAsHasuraDoes) {
  const std::string marker(sql::kCheckViolationMarker);
  const std::vector<MappingCase> cases = {
      {"22P02", "invalid input syntax for type integer: \"" + marker + "\"",
       ErrorCode::kPermissionError, "check constraint of an insert/update permission has failed"},
      {"22P02",
       "invalid input syntax for type integer: \"liveql: cannot proceed to insert array relations "
       "since insert to table \"a\" affects zero rows\"",
       ErrorCode::kNotSupported,
       "cannot proceed to insert array relations since insert to table \"a\" affects zero rows"},
      {"23505", "duplicate key value violates unique constraint \"a_pkey\"",
       ErrorCode::kConstraintViolation,
       "Uniqueness violation. duplicate key value violates unique constraint \"a_pkey\""},
      {"23503", "m", ErrorCode::kConstraintViolation, "Foreign key violation. m"},
      {"23502", "m", ErrorCode::kConstraintViolation, "Not-NULL violation. m"},
      {"23P01", "m", ErrorCode::kConstraintViolation, "Exclusion violation. m"},
      {"23001", "m", ErrorCode::kConstraintViolation,
       "Can not delete or update due to data being referred. m"},
      {"23000", "m", ErrorCode::kConstraintViolation, "m"},
      {"23514", "m", ErrorCode::kPermissionError, "Check constraint violation. m"},
      {"22P02", "invalid input syntax for type integer: \"x\"", ErrorCode::kDataException,
       "invalid input syntax for type integer: \"x\""},
      {"22003", "m", ErrorCode::kDataException, "m"},
      {"22025", "m", ErrorCode::kBadRequest, "m"},
      {"42P10", "m", ErrorCode::kConstraintError, "m"},
      {"42704", "m", ErrorCode::kConstraintError, "m"},
  };
  for (const auto& c : cases) {
    auto e = sql::mutation_error(c.sqlstate, c.message);
    ASSERT_TRUE(e) << c.sqlstate;
    EXPECT_EQ(e->code, c.code) << c.sqlstate;
    EXPECT_EQ(e->message, c.expected) << c.sqlstate;
    EXPECT_EQ(e->path, "$");
  }
  EXPECT_EQ(error_code_name(ErrorCode::kConstraintViolation), std::string("constraint-violation"));
  EXPECT_EQ(error_code_name(ErrorCode::kPermissionError), std::string("permission-error"));
  EXPECT_EQ(error_code_name(ErrorCode::kConstraintError), std::string("constraint-error"));
}

TEST(MutationErrorTest, OtherStatesAreLeftToTheCaller) {
  for (const char* state : {"57014", "08006", "40001", "42601", "XX000", "", "2350", "235055"})
    EXPECT_FALSE(sql::mutation_error(state, "m")) << state;
}

}  // namespace
}  // namespace liveql

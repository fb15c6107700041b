// json/jsonb columns against a real PostgreSQL: the `path` argument (Hasura's path syntax read
// with #>) in queries and in a mutation's returning, and `_cast` from jsonb to String.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <boost/json.hpp>
#include <string>

#include "liveql/compiler/catalog.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/metadata.hpp"
#include "liveql/compiler/sql.hpp"
#include "liveql/compiler/sql_mutation.hpp"
#include "support/test_db.hpp"

namespace liveql {
namespace {

namespace json = boost::json;

constexpr const char* kSetup = R"sql(
create table doc (id serial primary key, body json, meta jsonb);
insert into doc (body, meta) values
  ('{"a": "b", "list": [10, 20], "odd key!": 1, "nested": [{"\u00e9t\u00e9": "summer"}]}',
   '["red", "green"]'),
  ('{"a": null}', '{"shade": "red"}');
)sql";

constexpr const char* kMetadata = R"YAML(
version: 3
sources:
- name: default
  kind: postgres
  tables:
  - table: {schema: public, name: doc}
)YAML";

class JsonColumnPgTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    url_ = test::fresh_database("liveql_json_column_test", kSetup);
    conn_ = PQconnectdb(url_.c_str());
    ASSERT_EQ(PQstatus(conn_), CONNECTION_OK) << PQerrorMessage(conn_);
    auto rows = test::query(url_, std::string(catalog::catalog_query()));
    auto cat = catalog::parse_catalog(rows.at(0).at(0));
    ASSERT_TRUE(cat.ok()) << cat.error().message;
    auto md = metadata::parse_metadata(kMetadata);
    ASSERT_TRUE(md.ok()) << md.error().message;
    auto schema = compiler::build_schema(*cat, *md);
    ASSERT_TRUE(schema.ok()) << schema.error().message;
    schema_ = *schema;
  }
  static void TearDownTestSuite() {
    if (conn_) PQfinish(conn_);
    conn_ = nullptr;
  }

  static compiler::CompiledOperation compile(std::string_view q, std::string vars = "{}",
                                             const compiler::Session& s = {}) {
    compiler::Request r;
    r.query = q;
    r.variables = json::parse(vars).as_object();
    auto op = compiler::compile(*schema_, r, s);
    EXPECT_TRUE(op.ok()) << (op.ok() ? "" : op.error().message + " at " + op.error().path);
    return op.ok() ? std::move(*op) : compiler::CompiledOperation{};
  }

  static json::value exec(const std::string& sql, const json::object& vars) {
    const std::string v = json::serialize(vars);
    const char* params[] = {v.c_str()};
    PGresult* r = PQexecParams(conn_, sql.c_str(), 1, nullptr, params, nullptr, nullptr, 0);
    json::value out;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
      ADD_FAILURE() << PQresultErrorMessage(r) << "\n" << sql;
    } else {
      out = json::parse(PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    return out;
  }

  static json::value query(std::string_view q, std::string vars = "{}",
                           const compiler::Session& s = {}) {
    auto op = compile(q, std::move(vars), s);
    return exec(sql::single_query(op.ir), op.vars);
  }

  static std::string url_;
  static PGconn* conn_;
  static std::shared_ptr<const compiler::Schema> schema_;
};
std::string JsonColumnPgTest::url_;
PGconn* JsonColumnPgTest::conn_ = nullptr;
std::shared_ptr<const compiler::Schema> JsonColumnPgTest::schema_;

TEST_F(JsonColumnPgTest, PathsReadInsideTheValue) {
  json::value got = query(R"({ doc(where: {id: {_eq: 1}}) {
      whole: body(path: "$")
      a: body(path: "$.a")
      second: body(path: "list[1]")
      odd: body(path: "['odd key!']")
      accented: body(path: "nested[0].[\"\u00e9t\u00e9\"]")
      missing: body(path: "nope.deeper")
      first: meta(path: "[0]")
    } })");
  EXPECT_EQ(got, json::parse(R"({"doc": [{
      "whole": {"a": "b", "list": [10, 20], "odd key!": 1, "nested": [{"\u00e9t\u00e9": "summer"}]},
      "a": "b", "second": 20, "odd": 1, "accented": "summer", "missing": null,
      "first": "red"}]})"));
}

TEST_F(JsonColumnPgTest, JsonbCastToStringMatchesItsText) {
  json::value got = query(R"({ doc(where: {meta: {_cast: {String: {_like: "%green%"}}}}) { id }
      both: doc(where: {meta: {_cast: {String: {_ilike: "%RED%"}}}}, order_by: {id: asc}) { id } })");
  EXPECT_EQ(got, json::parse(R"({"doc": [{"id": 1}], "both": [{"id": 1}, {"id": 2}]})"));
}

TEST_F(JsonColumnPgTest, ReturningTakesAPathToo) {
  auto op = compile(R"(mutation { insert_doc_one(object: {body: {k: [1, 2]}}) {
      k: body(path: "k[1]") } })");
  ASSERT_EQ(op.mutations.size(), 1u);
  ASSERT_TRUE(op.mutations[0].write);
  auto statements = sql::mutation_statements(*op.mutations[0].write);
  ASSERT_EQ(statements.size(), 1u);
  PQclear(PQexec(conn_, "BEGIN"));
  json::value got = exec(statements[0], op.vars);
  PQclear(PQexec(conn_, "ROLLBACK"));
  EXPECT_EQ(got, json::parse(R"({"k": 2})"));
}

}  // namespace
}  // namespace liveql

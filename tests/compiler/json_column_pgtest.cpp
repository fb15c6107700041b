// json/jsonb columns against a real PostgreSQL: the `path` argument (Hasura's path syntax read
// with #>) in queries and in a mutation's returning, and `_cast` from jsonb to String.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <boost/json.hpp>
#include <string>

#include "compiled_pg_test.hpp"
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

class JsonColumnPgTest : public test::CompiledPgTest<JsonColumnPgTest> {
 public:
  static constexpr const char* kDatabase = "liveql_json_column_test";
  static constexpr const char* kSetup = liveql::kSetup;
  static constexpr const char* kMetadata = liveql::kMetadata;
};

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

// ltree against a real PostgreSQL with the ltree extension (contrib): the catalog read from the
// database, GraphQL compiled with compile(), the generated SQL run with libpq, single and
// multiplexed, with a permission filter on a session variable.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <boost/json.hpp>
#include <string>

#include "compiled_pg_test.hpp"
#include "liveql/compiler/catalog.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/metadata.hpp"
#include "liveql/compiler/sql.hpp"
#include "support/test_db.hpp"

namespace liveql {
namespace {

namespace json = boost::json;

constexpr const char* kSetup = R"sql(
create extension if not exists ltree;
create table topic (id serial primary key, path ltree not null);
insert into topic (path) values
  ('Home'), ('Home.Garden'), ('Home.Garden.Roses'), ('Home.Kitchen'),
  ('Home.Kitchen.Knives'), ('Work'), ('Work.Desk'), ('Work.Desk.Lamps');
)sql";

constexpr const char* kMetadata = R"YAML(
version: 3
sources:
- name: default
  kind: postgres
  tables:
  - table: {schema: public, name: topic}
    select_permissions:
    - role: user
      permission:
        columns: [id, path]
        filter: {path: {_descendant: X-Hasura-Root}}
)YAML";

class LtreePgTest : public test::CompiledPgTest<LtreePgTest> {
 public:
  static constexpr const char* kDatabase = "liveql_ltree_test";
  static constexpr const char* kSetup = liveql::kSetup;
  static constexpr const char* kMetadata = liveql::kMetadata;
};

TEST_F(LtreePgTest, OperatorsSelectTheRowsLtreeSays) {
  json::value got = query(R"(query ($q: lquery, $t: ltxtquery) {
      ancestor: topic(where: {path: {_ancestor: "Home.Garden.Roses"}}, order_by: {id: asc})
        { path }
      ancestor_any: topic(where: {path: {_ancestor_any: ["Home.Kitchen", "Work.Desk"]}},
        order_by: {id: asc}) { path }
      descendant: topic(where: {path: {_descendant: "Home.Kitchen"}}, order_by: {id: asc})
        { path }
      descendant_any: topic(where: {path: {_descendant_any: ["Home.Garden", "Work"]}},
        order_by: {id: asc}) { path }
      matches: topic(where: {path: {_matches: $q}}, order_by: {id: asc}) { path }
      matches_any: topic(where: {path: {_matches_any: ["*.Roses", "Work.*{1}"]}},
        order_by: {id: asc}) { path }
      fulltext: topic(where: {path: {_matches_fulltext: $t}}, order_by: {id: asc}) { path }
      eq: topic(where: {path: {_eq: "Work"}}) { id }
    })",
                          R"({"q": "*.Kitchen.*", "t": "Lamp* & !Home"})");
  EXPECT_EQ(got, json::parse(R"({
      "ancestor": [{"path": "Home"}, {"path": "Home.Garden"}, {"path": "Home.Garden.Roses"}],
      "ancestor_any": [{"path": "Home"}, {"path": "Home.Kitchen"}, {"path": "Work"},
                       {"path": "Work.Desk"}],
      "descendant": [{"path": "Home.Kitchen"}, {"path": "Home.Kitchen.Knives"}],
      "descendant_any": [{"path": "Home.Garden"}, {"path": "Home.Garden.Roses"}, {"path": "Work"},
                         {"path": "Work.Desk"}, {"path": "Work.Desk.Lamps"}],
      "matches": [{"path": "Home.Kitchen"}, {"path": "Home.Kitchen.Knives"}],
      "matches_any": [{"path": "Home.Garden.Roses"}, {"path": "Work.Desk"}],
      "fulltext": [{"path": "Work.Desk.Lamps"}],
      "eq": [{"id": 6}]})"));
}

TEST_F(LtreePgTest, PermissionFilterOnASessionVariableSingleAndMultiplexed) {
  compiler::Session s;
  s.role = "user";
  s.is_admin = false;
  s.variables["x-hasura-root"] = "Work.Desk";
  auto op = compile("{ topic(order_by: {id: asc}) { path } }", "{}", s);
  const json::value expected =
      json::parse(R"({"topic": [{"path": "Work.Desk"}, {"path": "Work.Desk.Lamps"}]})");
  EXPECT_EQ(exec(sql::single_query(op.ir), op.vars), expected);

  const std::string sql = sql::multiplexed_query(op.ir);
  const std::string ids = "{1}";
  std::string escaped;
  for (char c : json::serialize(op.vars)) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  const std::string vars = "{\"" + escaped + "\"}";
  const char* params[] = {ids.c_str(), vars.c_str(), nullptr};
  PGresult* r = PQexecParams(conn_, sql.c_str(), 3, nullptr, params, nullptr, nullptr, 0);
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQresultErrorMessage(r);
  ASSERT_EQ(PQntuples(r), 1);
  EXPECT_EQ(json::parse(PQgetvalue(r, 0, 1)), expected);
  PQclear(r);
}

}  // namespace
}  // namespace liveql

// ltree against a real PostgreSQL with the ltree extension (contrib): the catalog read from the
// database, GraphQL compiled with compile(), the generated SQL run with libpq, single and
// multiplexed, with a permission filter on a session variable.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <boost/json.hpp>
#include <string>

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

class LtreePgTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    url_ = test::fresh_database("liveql_ltree_test", kSetup);
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
std::string LtreePgTest::url_;
PGconn* LtreePgTest::conn_ = nullptr;
std::shared_ptr<const compiler::Schema> LtreePgTest::schema_;

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

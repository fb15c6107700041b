// Relay connections and node(id) against a real PostgreSQL: the generated SQL run with libpq
// (single and multiplexed), pages walked forward and backward with the cursors the statement
// made until pageInfo says there is no more, and compared with the whole ordered set, for
// orders with ties, NULLs and descending columns, through an object relationship and by an
// array relationship's count, under a role's permission filter.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "compiled_pg_test.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/sql.hpp"

namespace liveql {
namespace {

namespace json = boost::json;

constexpr const char* kSetup = R"sql(
create table team (id serial primary key, name text not null);
create table player (id serial primary key, team_id int references team, name text not null,
                     score int, visible boolean not null default true);
create table pair (a text not null, b int not null, note text, primary key (a, b));
insert into team (name) values ('red'), ('blue'), ('green');
insert into player (team_id, name, score, visible) values
  (1, 'ann', 10, true), (1, 'bob', null, true), (2, 'cid', 10, false), (2, 'dan', 7, true),
  (3, 'eve', null, true), (1, 'fay', 3, true), (2, 'gus', 10, true), (3, 'hal', 7, false);
insert into pair values ('x', 1, 'one'), ('x', 2, 'two'), ('y', 1, 'three');
)sql";

constexpr const char* kMetadata = R"YAML(
version: 3
sources:
- name: default
  kind: postgres
  tables:
  - table: {schema: public, name: team}
    array_relationships:
    - name: players
      using: {foreign_key_constraint_on: {table: player, column: team_id}}
    select_permissions:
    - role: fan
      permission: {columns: [name], filter: {}}
  - table: {schema: public, name: player}
    object_relationships:
    - name: team
      using: {foreign_key_constraint_on: team_id}
    select_permissions:
    - role: fan
      permission: {columns: [name, score], filter: {visible: {_eq: true}}}
  - table: {schema: public, name: pair}
)YAML";

class RelayPgTest : public test::CompiledPgTest<RelayPgTest> {
 public:
  static constexpr const char* kDatabase = "liveql_relay_test";
  static constexpr const char* kSetup = liveql::kSetup;
  static constexpr const char* kMetadata = liveql::kMetadata;

 protected:
  static compiler::Session fan() {
    compiler::Session s;
    s.role = "fan";
    s.is_admin = false;
    return s;
  }

  static Result<compiler::CompiledOperation> relay_compile(std::string_view q,
                                                           std::string vars = "{}",
                                                           const compiler::Session& s = {}) {
    compiler::Request r;
    r.query = q;
    r.variables = json::parse(vars).as_object();
    r.relay = true;
    return compiler::compile(*schema_, r, s);
  }

  static json::value relay(std::string_view q, std::string vars = "{}",
                           const compiler::Session& s = {}) {
    auto op = relay_compile(q, std::move(vars), s);
    EXPECT_TRUE(op.ok()) << (op.ok() ? "" : op.error().message + " at " + op.error().path);
    if (!op.ok()) return nullptr;
    return exec(sql::single_query(op->ir), op->vars);
  }

  static std::string relay_error(std::string_view q, std::string vars = "{}") {
    auto op = relay_compile(q, std::move(vars));
    EXPECT_FALSE(op.ok());
    return op.ok() ? "" : op.error().message + " at " + op.error().path;
  }

  // The names of every page of `conn_args` (`first: 2, order_by: ...`), walking with the
  // cursors pageInfo gives until it says there is no page further.
  static std::vector<std::string> walk(const std::string& order, bool forward,
                                       const compiler::Session& s = {}) {
    std::vector<std::string> names;
    std::string cursor;
    for (int pages = 0; pages < 20; ++pages) {
      std::string args = std::string(forward ? "first: 3" : "last: 3") + ", order_by: " + order;
      if (!cursor.empty())
        args += std::string(forward ? ", after: \"" : ", before: \"") + cursor + "\"";
      json::value got = relay("{ player_connection(" + args +
                                  ") { pageInfo { hasNextPage hasPreviousPage startCursor "
                                  "endCursor } edges { cursor node { name } } } }",
                              "{}", s);
      const json::object& conn = got.at("player_connection").as_object();
      std::vector<std::string> page;
      for (const auto& e : conn.at("edges").as_array())
        page.emplace_back(e.at("node").at("name").as_string());
      names.insert(forward ? names.end() : names.begin(), page.begin(), page.end());
      const json::object& info = conn.at("pageInfo").as_object();
      if (!(forward ? info.at("hasNextPage") : info.at("hasPreviousPage")).as_bool()) return names;
      cursor = std::string((forward ? info.at("endCursor") : info.at("startCursor")).as_string());
    }
    ADD_FAILURE() << "no last page";
    return names;
  }

  static std::vector<std::string> ordered(const std::string& order_by_sql,
                                          const std::string& where = "true") {
    PGresult* r = PQexec(
        conn_, ("select name from player p where " + where + " order by " + order_by_sql).c_str());
    std::vector<std::string> out;
    for (int i = 0; i < PQntuples(r); ++i) out.emplace_back(PQgetvalue(r, i, 0));
    PQclear(r);
    return out;
  }

  static std::string unbase64(std::string_view text) {
    std::string sql = "select convert_from(decode($1, 'base64'), 'UTF8')";
    std::string t(text);
    const char* params[] = {t.c_str()};
    PGresult* r = PQexecParams(conn_, sql.c_str(), 1, nullptr, params, nullptr, nullptr, 0);
    std::string out = PQresultStatus(r) == PGRES_TUPLES_OK ? PQgetvalue(r, 0, 0) : "";
    PQclear(r);
    return out;
  }
};

TEST_F(RelayPgTest, CursorsAndIdsAreHasurasTexts) {
  json::value got = relay(R"({ player_connection(first: 1, order_by: {score: desc}) {
      edges { cursor node { id name } } } })");
  const json::value& edge = got.at("player_connection").at("edges").at(0);
  // desc puts NULLs first, as Hasura orders.
  EXPECT_EQ(unbase64(edge.at("cursor").as_string()), R"({"score" : null, "id" : 2})");
  EXPECT_EQ(unbase64(edge.at("node").at("id").as_string()), R"([1, "public", "player", 2])");
  got = relay(R"({ pair_connection(last: 1) { edges { cursor node { id note } } } })");
  const json::value& pair = got.at("pair_connection").at("edges").at(0);
  EXPECT_EQ(unbase64(pair.at("cursor").as_string()), R"({"a" : "y", "b" : 1})");
  EXPECT_EQ(unbase64(pair.at("node").at("id").as_string()), R"([1, "public", "pair", "y", 1])");
}

TEST_F(RelayPgTest, PagesWalkTheWholeOrderBothWays) {
  struct Case {
    std::string graphql, sql;
  };
  for (const Case& c : std::vector<Case>{
           {"{name: asc}", "name asc, id"},
           {"{score: asc}", "score asc nulls last, id"},
           {"{score: desc}", "score desc nulls first, id"},
           {"{score: asc_nulls_first, name: desc}", "score asc nulls first, name desc, id"},
           {"{team: {name: asc}}", "(select name from team where id = p.team_id), id"},
           {"{id: desc}", "id desc"},
       }) {
    EXPECT_EQ(walk(c.graphql, true), ordered(c.sql)) << c.graphql;
    EXPECT_EQ(walk(c.graphql, false), ordered(c.sql)) << c.graphql;
  }
  // The role sees only visible players: pages, cursors and pageInfo over those.
  EXPECT_EQ(walk("{score: desc}", true, fan()), ordered("score desc nulls first, id", "visible"));
  EXPECT_EQ(walk("{score: desc}", false, fan()), ordered("score desc nulls first, id", "visible"));
}

TEST_F(RelayPgTest, PageInfoAtTheEdgesAndAnEmptyPage) {
  json::value all = relay(R"({ c: team_connection { pageInfo { hasNextPage hasPreviousPage } }
      empty: team_connection(where: {id: {_gt: 100}}) {
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor } } })");
  EXPECT_EQ(json::serialize(all),
            R"({"c":{"pageInfo":{"hasNextPage":false,"hasPreviousPage":false}},)"
            R"("empty":{"pageInfo":{"hasNextPage":false,"hasPreviousPage":false,)"
            R"("startCursor":null,"endCursor":null},"edges":[]}})");
}

TEST_F(RelayPgTest, OrderByAnAggregateAndNestedConnections) {
  json::value got = relay(R"({ team_connection(order_by: {players_aggregate: {count: desc}}) {
      edges { cursor node { name players_connection(first: 1, order_by: {name: desc}) {
        pageInfo { hasNextPage } edges { node { name } } } } } } })");
  const json::array& edges = got.at("team_connection").at("edges").as_array();
  ASSERT_EQ(edges.size(), 3u);
  EXPECT_EQ(unbase64(edges[0].at("cursor").as_string()),
            R"({"players_aggregate" : {"count" : 3}, "id" : 1})");
  EXPECT_EQ(json::serialize(edges[2].at("node")),
            R"({"name":"green","players_connection":{"pageInfo":{"hasNextPage":true},)"
            R"("edges":[{"node":{"name":"hal"}}]}})");
  // The cursor of the aggregate order pages on.
  std::string after(edges[0].at("cursor").as_string());
  json::value next = relay(R"({ team_connection(first: 1, after: ")" + after +
                           R"(", order_by: {players_aggregate: {count: desc}}) {
      edges { node { name } } } })");
  EXPECT_EQ(json::serialize(next), R"({"team_connection":{"edges":[{"node":{"name":"blue"}}]}})");
}

TEST_F(RelayPgTest, NodeFindsTheRowItsIdNames) {
  // [1, "public", "player", 4] and [1,"public","pair","x",2] (another spacing is fine).
  json::value got = relay(R"({ a: node(id: "WzEsICJwdWJsaWMiLCAicGxheWVyIiwgNF0=") {
        __typename ... on player { name team { name } } ... on team { name } }
      b: node(id: "WzEsInB1YmxpYyIsInBhaXIiLCJ4IiwyXQ==") { id ... on pair { note } }
      c: node(id: "WzEsICJwdWJsaWMiLCAicGxheWVyIiwgOTld") { id } })");
  EXPECT_EQ(json::serialize(got),
            R"({"a":{"__typename":"player","name":"dan","team":{"name":"blue"}},)"
            R"("b":{"id":"WzEsICJwdWJsaWMiLCAicGFpciIsICJ4IiwgMl0=","note":"two"},"c":null})");
  // cid (3) is not visible to the fan role.
  got = relay(R"({ node(id: "WzEsICJwdWJsaWMiLCAicGxheWVyIiwgM10=") { ... on player { name } } })",
              "{}", fan());
  EXPECT_EQ(json::serialize(got), R"({"node":null})");
}

TEST_F(RelayPgTest, BadArgumentsAreHasurasErrors) {
  EXPECT_EQ(
      relay_error("{ team_connection(first: 1, last: 1) { edges { cursor } } }"),
      "\"first\" and \"last\" are not allowed at once at $.selectionSet.team_connection.args");
  EXPECT_EQ(
      relay_error(R"({ team_connection(after: "e30=", before: "e30=") { edges { cursor } } })"),
      "\"after\" and \"before\" are not allowed at once at $.selectionSet.team_connection.args");
  // {} lacks the id; a cursor of another order lacks its column.
  EXPECT_EQ(relay_error(R"({ team_connection(after: "e30=") { edges { cursor } } })"),
            "the \"after\" or \"before\" cursor is invalid at "
            "$.selectionSet.team_connection.args.after");
  EXPECT_EQ(relay_error(R"({ team_connection(before: "eyJpZCIgOiAxfQ==", order_by: {name: asc}) {
                edges { cursor } } })"),
            "the \"after\" or \"before\" cursor is invalid at "
            "$.selectionSet.team_connection.args.before");
  // [1, "public", "nope", 1]; [2, "public", "team", 1]; [1, "public", "pair", "x"]
  EXPECT_EQ(relay_error(R"({ node(id: "WzEsICJwdWJsaWMiLCAibm9wZSIsIDFd") { id } })"),
            "invalid node id: no such table found: \"nope\" at $.selectionSet.node.args.id");
  EXPECT_EQ(relay_error(R"({ node(id: "WzIsICJwdWJsaWMiLCAidGVhbSIsIDFd") { id } })"),
            "invalid node id: Error in $: unsupported GUID version: 2.0 at "
            "$.selectionSet.node.args.id");
  EXPECT_EQ(
      relay_error(R"({ node(id: "WzEsICJwdWJsaWMiLCAicGFpciIsICJ4Il0=") { id } })"),
      "invalid node id: primary key columns \"b\" are missing at $.selectionSet.node.args.id");
  EXPECT_EQ(relay_error(R"({ node(id: "random") { id } })"),
            "invalid node id: Error in $: Failed reading: not a valid json value at "
            "'\u00ad\u00a9\u00dd\u00a2' at $.selectionSet.node.args.id");
}

TEST_F(RelayPgTest, TheMultiplexedStatementAnswersEachSubscribersCursor) {
  auto op = relay_compile(R"(subscription ($after: String) {
      player_connection(first: 2, after: $after) { edges { node { name } } } })",
                          R"({"after": "eyJpZCIgOiAyfQ=="})");
  ASSERT_TRUE(op.ok()) << op.error().message;
  auto other = relay_compile(R"(subscription ($after: String) {
      player_connection(first: 2, after: $after) { edges { node { name } } } })",
                             R"({"after": "eyJpZCIgOiA2fQ=="})");
  ASSERT_TRUE(other.ok());
  // Same statement (one cohort); each subscriber's cursor is its own variable.
  const std::string sql = sql::multiplexed_query(op->ir);
  ASSERT_EQ(sql, sql::multiplexed_query(other->ir));
  const std::string ids = "{1,2}";
  const std::string vars = "{" + json::serialize(json::value(json::serialize(op->vars))) + "," +
                           json::serialize(json::value(json::serialize(other->vars))) + "}";
  const char* params[] = {ids.c_str(), vars.c_str(), nullptr};
  PGresult* r = PQexecParams(conn_, sql.c_str(), 3, nullptr, params, nullptr, nullptr, 0);
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQresultErrorMessage(r);
  ASSERT_EQ(PQntuples(r), 2);
  EXPECT_EQ(json::serialize(json::parse(PQgetvalue(r, 0, 1))),
            R"({"player_connection":{"edges":[{"node":{"name":"cid"}},{"node":{"name":"dan"}}]}})");
  EXPECT_EQ(json::serialize(json::parse(PQgetvalue(r, 1, 1))),
            R"({"player_connection":{"edges":[{"node":{"name":"gus"}},{"node":{"name":"hal"}}]}})");
  PQclear(r);
}

}  // namespace
}  // namespace liveql

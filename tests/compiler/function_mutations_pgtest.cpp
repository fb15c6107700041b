// Tracked VOLATILE functions as mutation_root fields, <fn>_connection in the Relay schema and
// inconsistent functions, against a real PostgreSQL: each root field's statements run with
// libpq inside a transaction rolled back after each test, as the operation runner runs them.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "compiled_pg_test.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/sql_mutation.hpp"
#include "support/test_db.hpp"

namespace liveql {
namespace {

namespace json = boost::json;

constexpr const char* kSetup = R"sql(
create table player (id serial primary key, name text not null, score int not null,
  echo text not null default '');
insert into player (name, score) values ('Ann Blake', 0), ('Ben Blake', 10), ('Cy Black', 50);

create function add_to_score(hasura_session json, search text, increment int default 1)
returns setof player as $$
  update player set score = score + increment where name ilike '%' || search || '%'
  returning id, name, score, hasura_session ->> 'x-hasura-role'
$$ language sql volatile;

create function bump(player_id int) returns player as $$
  update player set score = score + 100 where id = player_id returning *
$$ language sql volatile;

create function all_players() returns setof player as $$
  select * from player
$$ language sql volatile;

create function search_players(q text) returns setof player as $$
  select * from player where name ilike '%' || q || '%'
$$ language sql stable;

create function twice() returns setof player as $$ select * from player $$ language sql stable;
create function twice(n int) returns setof player as $$ select * from player $$ language sql stable;
)sql";

constexpr const char* kMetadata = R"YAML(
version: 3
sources:
- name: default
  kind: postgres
  tables:
  - table: {schema: public, name: player}
    select_permissions:
    - role: viewer
      permission:
        columns: [id, name, score]
        filter: {score: {_lt: 40}}
    - role: scorer
      permission:
        columns: [name, score]
        filter: {}
  functions:
  - function: add_to_score
    configuration: {session_argument: hasura_session}
    permissions: [{role: viewer}]
  - function: bump
    configuration: {exposed_as: mutation}
    permissions: [{role: scorer}]
  - function: all_players
    configuration: {exposed_as: query}
  - function: search_players
  - function: twice
  - function: search_players
    configuration: {custom_name: stable_as_mutation, exposed_as: mutation}
)YAML";

class FunctionMutationsPgTest : public test::CompiledPgTest<FunctionMutationsPgTest> {
 public:
  static constexpr const char* kDatabase = "liveql_function_mutations_test";
  static constexpr const char* kSetup = liveql::kSetup;
  static constexpr const char* kMetadata = liveql::kMetadata;

  void SetUp() override { exec_command("BEGIN"); }
  void TearDown() override { exec_command("ROLLBACK"); }

  static compiler::Session role(std::string name) {
    compiler::Session s;
    s.role = name;
    s.is_admin = false;
    s.variables["x-hasura-role"] = std::move(name);
    return s;
  }

  static void exec_command(const char* sql) {
    PGresult* r = PQexec(conn_, sql);
    EXPECT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQresultErrorMessage(r);
    PQclear(r);
  }

  // The mutation's response object: each root field's statements run in order (values only as
  // the $1 vars), their `data` gathered under its key, as the operation runner does.
  static json::value mutate(std::string_view q, const compiler::Session& s = {}) {
    auto op = compile(q, "{}", s);
    json::object out;
    for (const auto& m : op.mutations) {
      if (!m.write) {
        out[m.alias] = m.static_value;
        continue;
      }
      for (const auto& sql : sql::mutation_statements(*m.write)) {
        for (const auto& [k, v] : op.vars)
          if (v.is_string() && v.get_string().size() >= 6)
            EXPECT_EQ(sql.find(std::string(v.get_string())), std::string::npos)
                << "a value in the SQL text: " << v;
        out[m.alias] = exec(sql, op.vars);
      }
    }
    return out;
  }

  static json::value relay(std::string_view q, const compiler::Session& s = {}) {
    compiler::Request r;
    r.query = q;
    r.relay = true;
    auto op = compiler::compile(*schema_, r, s);
    EXPECT_TRUE(op.ok()) << (op.ok() ? "" : op.error().message);
    if (!op.ok()) return nullptr;
    return exec(sql::single_query(op->ir), op->vars);
  }

  static Error compile_error(std::string_view q, const compiler::Session& s = {}) {
    compiler::Request r;
    r.query = q;
    auto op = compiler::compile(*schema_, r, s);
    EXPECT_FALSE(op.ok());
    return op.ok() ? Error{} : op.error();
  }
};

TEST_F(FunctionMutationsPgTest, VolatileFunctionRunsAsAMutationWithSessionAndDefaults) {
  EXPECT_EQ(mutate(R"(mutation {
      add_to_score(args: {search: "Bla", increment: 3}, order_by: {id: asc}) { name score echo }
    })"),
            json::parse(R"({"add_to_score": [
      {"name": "Ann Blake", "score": 3, "echo": "admin"},
      {"name": "Ben Blake", "score": 13, "echo": "admin"},
      {"name": "Cy Black", "score": 53, "echo": "admin"}]})"));
  // The default increment, and where / limit on the rows the function returned; the rows the
  // filter drops were written all the same.
  EXPECT_EQ(mutate(R"(mutation {
      add_to_score(args: {search: "Blake"}, where: {score: {_gt: 5}}) { name score }
    })"),
            json::parse(R"({"add_to_score": [{"name": "Ben Blake", "score": 14}]})"));
  EXPECT_EQ(query("{ player(order_by: {id: asc}) { score } }"),
            json::parse(R"({"player": [{"score": 4}, {"score": 14}, {"score": 53}]})"));
}

TEST_F(FunctionMutationsPgTest, RootFieldsRunInOrderInOneOperation) {
  EXPECT_EQ(mutate(R"(mutation {
      first: add_to_score(args: {search: "Ann"}) { score }
      update_player(where: {name: {_eq: "Ann Blake"}}, _inc: {score: 10}) { affected_rows }
      second: add_to_score(args: {search: "Ann"}) { score }
      __typename
    })"),
            json::parse(R"({"first": [{"score": 1}], "update_player": {"affected_rows": 1},
      "second": [{"score": 12}], "__typename": "mutation_root"})"));
}

TEST_F(FunctionMutationsPgTest, ReturnedRowsUnderTheReturnTablesSelectPermission) {
  // viewer sees players under 40 points and not `echo`; the function still updated all three.
  EXPECT_EQ(mutate(R"(mutation { add_to_score(args: {search: "B"}, order_by: {id: asc}) {
      name score } })",
                   role("viewer")),
            json::parse(R"({"add_to_score": [{"name": "Ann Blake", "score": 1},
      {"name": "Ben Blake", "score": 11}]})"));
  EXPECT_EQ(query("{ player(where: {name: {_eq: \"Cy Black\"}}) { score } }"),
            json::parse(R"({"player": [{"score": 51}]})"));
  Error e =
      compile_error("mutation { add_to_score(args: {search: \"B\"}) { echo } }", role("viewer"));
  EXPECT_EQ(e.message, "field 'echo' not found in type: 'player'");
}

TEST_F(FunctionMutationsPgTest, SingleRowFunctionAnswersTheRowOrNull) {
  EXPECT_EQ(mutate("mutation { bump(args: {player_id: 2}) { name score } }", role("scorer")),
            json::parse(R"({"bump": {"name": "Ben Blake", "score": 110}})"));
  // A function returning one row and finding none returns a row of NULLs in PostgreSQL,
  // answered as such (as the query field does).
  EXPECT_EQ(mutate("mutation { bump(args: {player_id: 99}) { name } }", role("scorer")),
            json::parse(R"({"bump": {"name": null}})"));
  // where on the one row: written, but not answered.
  EXPECT_EQ(mutate(R"(mutation { bump(args: {player_id: 1}, where: {score: {_gt: 1000}}) {
      name } })"),
            json::parse(R"({"bump": null})"));
  EXPECT_EQ(query("{ player_by_pk(id: 1) { score } }"),
            json::parse(R"({"player_by_pk": {"score": 100}})"));
}

TEST_F(FunctionMutationsPgTest, MutationsNeedAFunctionPermissionAndStayOffTheQueryRoot) {
  // scorer may select player (inferred permissions would expose a query) but has no function
  // permission on add_to_score.
  Error e =
      compile_error("mutation { add_to_score(args: {search: \"B\"}) { name } }", role("scorer"));
  EXPECT_EQ(e.message, "field 'add_to_score' not found in type: 'mutation_root'");
  e = compile_error("{ add_to_score(args: {search: \"B\"}) { name } }");
  EXPECT_EQ(e.message, "field 'add_to_score' not found in type: 'query_root'");
  e = compile_error("subscription { add_to_score(args: {search: \"B\"}) { name } }");
  EXPECT_EQ(e.message, "field 'add_to_score' not found in type: 'subscription_root'");
  // exposed_as: query keeps a VOLATILE function a query, and off mutation_root.
  EXPECT_EQ(query("{ all_players(order_by: {id: desc}, limit: 1) { name } }"),
            json::parse(R"({"all_players": [{"name": "Cy Black"}]})"));
  e = compile_error("mutation { all_players { name } }");
  EXPECT_EQ(e.message, "field 'all_players' not found in type: 'mutation_root'");
}

TEST_F(FunctionMutationsPgTest, InconsistentFunctionsAreLeftOutAndTheRestServed) {
  // twice is overloaded; a STABLE function exposed as a mutation is refused (a second entry of
  // search_players); the first search_players is served.
  const auto& left_out = compiler::inconsistent_objects(*schema_);
  ASSERT_EQ(left_out.size(), 2u);
  EXPECT_EQ(left_out[0].name, "function public.twice");
  EXPECT_NE(left_out[0].reason.find("function overloading is not supported"), std::string::npos);
  EXPECT_EQ(left_out[1].name, "function public.search_players");
  EXPECT_NE(left_out[1].reason.find("but is not marked VOLATILE"), std::string::npos);
  EXPECT_EQ(compile_error("{ twice { name } }").message,
            "field 'twice' not found in type: 'query_root'");
  EXPECT_EQ(query("{ search_players(args: {q: \"Cy\"}) { name } }"),
            json::parse(R"({"search_players": [{"name": "Cy Black"}]})"));
}

TEST_F(FunctionMutationsPgTest, RelayFunctionConnection) {
  const json::value first = relay(R"({ search_players_connection(args: {q: "Blake"}, first: 1) {
      edges { cursor node { name } } pageInfo { hasNextPage endCursor } } })");
  const json::value& conn = first.at("search_players_connection");
  EXPECT_EQ(conn.at("edges").at(0).at("node"), json::parse(R"({"name": "Ann Blake"})"));
  EXPECT_EQ(conn.at("pageInfo").at("hasNextPage"), json::value(true));
  const std::string after(conn.at("pageInfo").at("endCursor").as_string());
  const json::value next = relay(R"({ search_players_connection(args: {q: "Blake"}, after: ")" +
                                 after + R"(") { edges { node { name } } } })");
  EXPECT_EQ(next, json::parse(R"({"search_players_connection": {"edges": [
      {"node": {"name": "Ben Blake"}}]}})"));
  // The return table's permission applies, as for the ordinary field.
  EXPECT_EQ(relay(R"({ search_players_connection(args: {q: "B"}, order_by: {score: desc}) {
      edges { node { name } } } })",
                  role("viewer")),
            json::parse(R"({"search_players_connection": {"edges": [
      {"node": {"name": "Ben Blake"}}, {"node": {"name": "Ann Blake"}}]}})"));
}

}  // namespace
}  // namespace liveql

// Source customization (metadata `customization`) against a real PostgreSQL: the root fields
// renamed with a prefix and suffix and moved under the namespace field, answered nested under
// its response key by the single and the multiplexed statements; the types renamed with the
// type_names prefix and suffix (or mapping); mutations under the namespace too.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <boost/json.hpp>
#include <string>

#include "compiled_pg_test.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/metadata.hpp"
#include "liveql/compiler/plan.hpp"
#include "liveql/compiler/sql.hpp"

namespace liveql {
namespace {

namespace json = boost::json;

constexpr const char* kSetup = R"sql(
create table author (id serial primary key, name text);
insert into author (name) values ('Author 1'), ('Author 2');
)sql";

constexpr const char* kMetadata = R"YAML(
version: 3
sources:
- name: default
  kind: postgres
  customization:
    root_fields: {namespace: my_source, prefix: fpref_, suffix: _fsuff}
    type_names: {prefix: tpref_, suffix: _tsuff}
  tables:
  - table: {schema: public, name: author}
)YAML";

class SourceCustomizationPgTest : public test::CompiledPgTest<SourceCustomizationPgTest> {
 public:
  static constexpr const char* kDatabase = "liveql_customization_test";
  static constexpr const char* kSetup = liveql::kSetup;
  static constexpr const char* kMetadata = liveql::kMetadata;
};

TEST(SourceCustomizationTest, IsReadFromTheSource) {
  auto md = metadata::parse_metadata(kMetadata);
  ASSERT_TRUE(md.ok()) << md.error().message;
  EXPECT_EQ(md->customization.root_namespace, "my_source");
  EXPECT_EQ(md->customization.root_prefix, "fpref_");
  EXPECT_EQ(md->customization.root_suffix, "_fsuff");
  EXPECT_EQ(md->customization.type_prefix, "tpref_");
  EXPECT_EQ(md->customization.type_suffix, "_tsuff");
  EXPECT_FALSE(metadata::parse_metadata(R"({"version": 3, "sources": [{"name": "default",
      "kind": "postgres", "tables": [], "customization": {"root_fields": 3}}]})")
                   .ok());
}

TEST_F(SourceCustomizationPgTest, RootFieldsAnswerUnderTheNamespace) {
  EXPECT_EQ(query(R"({ a: my_source { b: fpref_author_fsuff(order_by: {id: asc}) { id name }
                       c: fpref_author_by_pk_fsuff(id: 2) { name } __typename }
                     __typename })"),
            json::parse(R"({"a": {"b": [{"id": 1, "name": "Author 1"},
                                        {"id": 2, "name": "Author 2"}],
                                  "c": {"name": "Author 2"}, "__typename": "tpref_my_source_query_tsuff"},
                            "__typename": "query_root"})"));
}

TEST_F(SourceCustomizationPgTest, TheUncustomizedNamesAreGone) {
  for (const char* q :
       {"{ author { id } }", "{ my_source { author { id } } }", "{ fpref_author_fsuff { id } }"}) {
    compiler::Request r;
    r.query = q;
    EXPECT_FALSE(compiler::compile(*schema_, r, {}).ok()) << q;
  }
}

TEST_F(SourceCustomizationPgTest, ASubscriptionSelectsOneNamespaceEvenWithTheDirective) {
  compiler::Request r;
  r.query = R"(subscription @_multiple_top_level_fields {
      a: my_source { fpref_author_fsuff { id } } b: my_source { fpref_author_fsuff { id } } })";
  auto op = compiler::compile(*schema_, r, {});
  ASSERT_FALSE(op.ok());
  EXPECT_EQ(op.error().message, "subscriptions must select one top level field");
}

TEST_F(SourceCustomizationPgTest, SubscriptionsNestTheLiveResultToo) {
  auto op = compile(
      "subscription { s: my_source { fpref_author_fsuff(where: {id: {_eq: 1}}) "
      "{ name } } }");
  ASSERT_EQ(op.ir.fields.size(), 1u);
  EXPECT_EQ(op.ir.fields[0].namespace_alias, "s");
  const std::string sql = sql::multiplexed_query(op.ir);
  const std::string vars = "{" + json::serialize(json::value(json::serialize(op.vars))) + "}";
  const char* params[] = {"{7}", vars.c_str(), nullptr};
  PGresult* r = PQexecParams(conn_, sql.c_str(), 3, nullptr, params, nullptr, nullptr, 0);
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQresultErrorMessage(r) << sql;
  ASSERT_EQ(PQntuples(r), 1);
  EXPECT_EQ(json::parse(PQgetvalue(r, 0, 1)),
            json::parse(R"({"s": {"fpref_author_fsuff": [{"name": "Author 1"}]}})"));
  PQclear(r);
}

TEST_F(SourceCustomizationPgTest, TypeNamesTakeThePrefixAndSuffix) {
  EXPECT_EQ(query(R"({ my_source { fpref_author_fsuff(where: {id: {_eq: 1}}) { __typename }
                       fpref_author_aggregate_fsuff { __typename aggregate { __typename } } } })"),
            json::parse(R"({"my_source": {
                "fpref_author_fsuff": [{"__typename": "tpref_author_tsuff"}],
                "fpref_author_aggregate_fsuff": {"__typename": "tpref_author_aggregate_tsuff",
                    "aggregate": {"__typename": "tpref_author_aggregate_fields_tsuff"}}}})"));
  // Introspection: the renamed types, their references, and the built-in scalars kept.
  EXPECT_EQ(query(R"({ __type(name: "tpref_author_bool_exp_tsuff") {
                         name inputFields { name type { name } } } })")
                .at("__type")
                .at("inputFields")
                .as_array()
                .at(3),
            json::parse(R"({"name": "id", "type": {"name": "tpref_Int_comparison_exp_tsuff"}})"));
  EXPECT_EQ(query(R"({ __type(name: "Int") { name } })"),
            json::parse(R"({"__type": {"name": "Int"}})"));
  EXPECT_EQ(query(R"({ __schema { queryType { name } mutationType { name } } })"),
            json::parse(R"({"__schema": {"queryType": {"name": "query_root"},
                                         "mutationType": {"name": "mutation_root"}}})"));
  // Variables and fragments name the types as the schema shows them.
  EXPECT_EQ(query(R"(query ($w: tpref_author_bool_exp_tsuff) { my_source {
                       fpref_author_fsuff(where: $w) { ... on tpref_author_tsuff { id } } } })",
                  R"({"w": {"id": {"_eq": 2}}})"),
            json::parse(R"({"my_source": {"fpref_author_fsuff": [{"id": 2}]}})"));
  // Errors too.
  compiler::Request r;
  r.query = "{ my_source { fpref_author_fsuff { bogus } } }";
  auto op = compiler::compile(*schema_, r, {});
  ASSERT_FALSE(op.ok());
  EXPECT_EQ(op.error().message, "field 'bogus' not found in type: 'tpref_author_tsuff'");
}

TEST(SourceCustomizationTest, TypeNamesMappingWinsOverPrefixAndSuffix) {
  auto md = metadata::parse_metadata(R"YAML(
version: 3
sources:
- name: default
  kind: postgres
  customization:
    type_names: {prefix: p_, mapping: {author: Writer}}
  tables:
  - table: {schema: public, name: author}
)YAML");
  ASSERT_TRUE(md.ok()) << md.error().message;
  EXPECT_EQ(md->customization.type_mapping.at("author"), "Writer");
  catalog::Catalog cat;
  catalog::Table author;
  author.name = {"public", "author"};
  author.columns = {{"id", "integer", "int4"}};
  author.primary_key = {"id"};
  cat.tables.push_back(author);
  auto schema = compiler::build_schema(cat, *md);
  ASSERT_TRUE(schema.ok()) << schema.error().message;
  compiler::Request r;
  r.query = R"({ a: __type(name: "Writer") { name } b: __type(name: "p_author_bool_exp") { name }
                 c: __type(name: "p_author") { name } })";
  auto op = compiler::compile(**schema, r, {});
  ASSERT_TRUE(op.ok()) << op.error().message;
  ASSERT_TRUE(op->static_data);
  EXPECT_EQ(json::value(*op->static_data),
            json::parse(R"({"a": {"name": "Writer"}, "b": {"name": "p_author_bool_exp"},
                            "c": null})"));
}

TEST_F(SourceCustomizationPgTest, MutationsAnswerUnderTheNamespace) {
  compiler::Request r;
  r.query = R"(mutation { m: my_source {
      i: fpref_insert_author_one_fsuff(object: {id: 10, name: "Author 10"}) { name __typename }
      __typename
      d: fpref_delete_author_fsuff(where: {id: {_eq: 10}}) { affected_rows } } })";
  auto plan = compiler::compile_plan(*schema_, r, {});
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  ASSERT_EQ(plan->statements.size(), 2u);
  ASSERT_EQ(plan->response.size(), 3u);
  for (const auto& f : plan->response) EXPECT_EQ(f.namespace_key, "m") << f.key;
  EXPECT_EQ(plan->response[1].static_json, "\"tpref_my_source_mutation_frontend_tsuff\"");
  EXPECT_EQ(exec(plan->statements[0].sql, plan->vars),
            json::parse(R"({"name": "Author 10", "__typename": "tpref_author_tsuff"})"));
  EXPECT_EQ(exec(plan->statements[1].sql, plan->vars), json::parse(R"({"affected_rows": 1})"));
  // The root fields are under the namespace only.
  r.query = R"(mutation { fpref_delete_author_fsuff(where: {}) { affected_rows } })";
  EXPECT_FALSE(compiler::compile(*schema_, r, {}).ok());
  // A namespace of static fields is answered without a statement.
  r.query = "mutation { my_source { __typename } }";
  auto static_plan = compiler::compile_plan(*schema_, r, {});
  ASSERT_TRUE(static_plan.ok()) << static_plan.error().message;
  ASSERT_TRUE(static_plan->static_data);
  EXPECT_EQ(
      json::value(*static_plan->static_data),
      json::parse(R"({"my_source": {"__typename": "tpref_my_source_mutation_frontend_tsuff"}})"));
}

}  // namespace
}  // namespace liveql

// Source customization (metadata `customization`) against a real PostgreSQL: the root fields
// renamed with a prefix and suffix and moved under the namespace field, answered nested under
// its response key by the single and the multiplexed statements.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <boost/json.hpp>
#include <string>

#include "compiled_pg_test.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/metadata.hpp"
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
                                  "c": {"name": "Author 2"}, "__typename": "my_source_query"},
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

}  // namespace
}  // namespace liveql

// ltree as Hasura v2 exposes it: ltree_comparison_exp and the lquery / ltxtquery scalars, the
// check of label paths, the SQL the operators compile to, and their dependencies (they make a
// cohort poll).
#include "schema/ltree.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/dependencies.hpp"
#include "liveql/compiler/sql.hpp"
#include "schema/schema.hpp"
#include "schema_fixture.hpp"

namespace liveql::compiler {
namespace {

namespace json = boost::json;

TEST(LtreeValueTest, LabelPathsNeedNonEmptyLabels) {
  for (const char* ok : {"Tree", "Tree.Science", "A.b_c.9"})
    EXPECT_TRUE(ltree::check_value("ltree", json::value(ok), "$.x").ok()) << ok;
  for (const char* bad : {"", "Tree.", ".Tree", "Tree..Science"}) {
    Status s = ltree::check_value("ltree", json::value(bad), "$.x");
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.error().code, ErrorCode::kParseFailed);
    EXPECT_EQ(s.error().message,
              "Expecting label path: a sequence of zero or more labels separated by dots, for "
              "example L1.L2.L3");
    EXPECT_EQ(s.error().path, "$.x");
  }
  EXPECT_FALSE(ltree::check_value("ltree", json::value(1), "$.x").ok());
  EXPECT_TRUE(ltree::check_value("lquery", json::value("*.A.*"), "$.x").ok());
  Status n = ltree::check_value("ltxtquery", json::value(1), "$.x");
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().message, "parsing Text failed, expected String, but encountered Number");
  EXPECT_TRUE(ltree::check_value("text", json::value(1), "$.x").ok());
}

catalog::Catalog tree_catalog() {
  catalog::Catalog cat;
  catalog::Table tree;
  tree.name = {"public", "tree"};
  catalog::Column path = test::col("path", "ltree", "ltree", true);
  path.type_schema = "ext";
  tree.columns = {test::col("id", "integer", "int4"), path};
  tree.primary_key = {"id"};
  cat.tables = {tree};
  return cat;
}

constexpr const char* kTreeMetadata = R"YAML(
version: 3
sources:
- name: default
  kind: postgres
  tables:
  - table: {schema: public, name: tree}
    select_permissions:
    - role: user
      permission:
        columns: [id, path]
        filter:
          _or:
          - path: {_descendant: X-Hasura-Root}
          - path: {_matches_any: ["*.Shared.*"]}
)YAML";

class LtreeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto md = metadata::parse_metadata(kTreeMetadata);
    ASSERT_TRUE(md.ok()) << md.error().message;
    auto s = build_schema(tree_catalog(), *md);
    ASSERT_TRUE(s.ok()) << s.error().message;
    schema_ = *s;
  }
  Result<CompiledOperation> run(std::string_view q, std::string vars = "{}",
                                const Session& s = Session{}) {
    Request r;
    r.query = q;
    r.variables = json::parse(vars).as_object();
    return compile(*schema_, r, s);
  }
  static std::shared_ptr<const Schema> schema_;
};
std::shared_ptr<const Schema> LtreeTest::schema_;

TEST_F(LtreeTest, ComparisonTypeAsHasuraNamesIt) {
  const RoleSchema& admin = schema_->roles.at("admin");
  ASSERT_TRUE(admin.type("lquery"));
  ASSERT_TRUE(admin.type("ltxtquery"));
  const TypeDef* t = admin.type("ltree_comparison_exp");
  ASSERT_TRUE(t);
  std::vector<std::string> names;
  for (const auto& f : t->input_fields) names.push_back(f.name);
  EXPECT_EQ(names, (std::vector<std::string>{"_ancestor", "_ancestor_any", "_descendant",
                                             "_descendant_any", "_eq", "_gt", "_gte", "_in",
                                             "_is_null", "_lt", "_lte", "_matches", "_matches_any",
                                             "_matches_fulltext", "_neq", "_nin"}));
  EXPECT_EQ(type_to_string(t->input_field("_ancestor")->type), "ltree");
  EXPECT_EQ(type_to_string(t->input_field("_ancestor_any")->type), "[ltree!]");
  EXPECT_EQ(type_to_string(t->input_field("_descendant_any")->type), "[ltree!]");
  EXPECT_EQ(type_to_string(t->input_field("_matches")->type), "lquery");
  EXPECT_EQ(type_to_string(t->input_field("_matches_any")->type), "[String!]");
  EXPECT_EQ(type_to_string(t->input_field("_matches_fulltext")->type), "ltxtquery");
  EXPECT_EQ(t->input_field("_matches_any")->description,
            "does `ltree` match any `lquery` in array?");
}

TEST_F(LtreeTest, OperatorsCompileWithValuesAsParamsOfTheExtensionsTypes) {
  auto op = run(R"(query ($q: lquery) {
      a: tree(where: {path: {_ancestor: "A.B"}}) { id }
      b: tree(where: {path: {_descendant_any: ["A", "B.C"]}}) { id }
      c: tree(where: {path: {_matches: $q}}) { id }
      d: tree(where: {path: {_matches_any: "*.x"}}) { id }
      e: tree(where: {path: {_matches_fulltext: "Astro*"}}) { id }
    })",
                R"({"q": "*.Astronomy.*"})");
  ASSERT_TRUE(op.ok()) << op.error().message << " at " << op.error().path;
  const auto& f = op->ir.fields;
  ASSERT_EQ(f.size(), 5u);
  EXPECT_EQ(f[0].select.where->op, ir::CompareOp::kAncestor);
  EXPECT_EQ(f[0].select.where->param.pg_type, "\"ext\".\"ltree\"");
  EXPECT_EQ(f[1].select.where->op, ir::CompareOp::kDescendantAny);
  EXPECT_TRUE(f[1].select.where->param.is_list);
  EXPECT_EQ(f[2].select.where->param.pg_type, "\"ext\".\"lquery\"");
  EXPECT_EQ(op->vars.at(f[2].select.where->param.key), "*.Astronomy.*");
  // A single value where a list is expected is a list of one, as in GraphQL.
  EXPECT_EQ(op->vars.at(f[3].select.where->param.key), json::parse(R"(["*.x"])"));
  EXPECT_EQ(f[3].select.where->param.pg_type, "\"ext\".\"lquery\"");
  EXPECT_EQ(f[4].select.where->param.pg_type, "\"ext\".\"ltxtquery\"");

  std::string sql = sql::single_query(op->ir);
  for (const char* part : {" @> (", " <@ ARRAY(", " ~ (", " ? ARRAY(", " @ ("})
    EXPECT_NE(sql.find(part), std::string::npos) << part << " in " << sql;
  EXPECT_NE(sql.find("::\"ext\".\"lquery\"[]"), std::string::npos) << sql;
  EXPECT_EQ(sql.find("Astro"), std::string::npos) << "values never enter SQL text";
}

TEST_F(LtreeTest, BadLabelPathsAreParseFailedAtTheirPlace) {
  auto one = run(R"({ tree(where: {path: {_ancestor: "A.B."}}) { id } })");
  ASSERT_FALSE(one.ok());
  EXPECT_EQ(one.error().code, ErrorCode::kParseFailed);
  EXPECT_EQ(one.error().path, "$.selectionSet.tree.args.where.path._ancestor");

  auto list = run(R"({ tree(where: {path: {_ancestor_any: ["A", ".B"]}}) { id } })");
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.error().code, ErrorCode::kParseFailed);
  EXPECT_EQ(list.error().path, "$.selectionSet.tree.args.where.path._ancestor_any[1]");

  auto variable =
      run(R"(query ($p: ltree) { tree(where: {path: {_eq: $p}}) { id } })", R"({"p": ""})");
  ASSERT_FALSE(variable.ok());
  EXPECT_EQ(variable.error().code, ErrorCode::kParseFailed);

  auto not_text = run(R"({ tree(where: {path: {_matches: 3}}) { id } })");
  ASSERT_FALSE(not_text.ok());
  EXPECT_EQ(not_text.error().code, ErrorCode::kParseFailed);

  auto wrong_column = run(R"({ tree(where: {id: {_ancestor: "A"}}) { id } })");
  ASSERT_FALSE(wrong_column.ok());
  EXPECT_EQ(wrong_column.error().code, ErrorCode::kValidationFailed);
}

TEST_F(LtreeTest, PermissionFiltersTakeSessionVariablesAndAreCheckedAtStart) {
  Session user;
  user.role = "user";
  user.is_admin = false;
  user.variables["x-hasura-root"] = "Tree.Mine";
  auto op = run("{ tree { id } }", "{}", user);
  ASSERT_TRUE(op.ok()) << op.error().message;
  const ir::BoolExp& where = *op->ir.fields[0].select.where;
  ASSERT_EQ(where.kind, ir::BoolExp::Kind::kOr);
  EXPECT_EQ(where.children[0]->op, ir::CompareOp::kDescendant);
  EXPECT_EQ(op->vars.at(where.children[0]->param.key), "Tree.Mine");
  EXPECT_EQ(where.children[1]->op, ir::CompareOp::kMatchesAny);

  auto bad = metadata::parse_metadata(R"YAML(
version: 3
sources:
- name: default
  kind: postgres
  tables:
  - table: {schema: public, name: tree}
    select_permissions:
    - role: user
      permission: {columns: [id], filter: {path: {_ancestor: "A..B"}}}
)YAML");
  ASSERT_TRUE(bad.ok()) << bad.error().message;
  auto s = build_schema(tree_catalog(), *bad);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("Expecting label path"), std::string::npos) << s.error().message;
}

TEST_F(LtreeTest, LtreeOperatorsMakeTheCohortPoll) {
  auto op = run(R"({ tree(where: {path: {_descendant: "A"}}) { id } })");
  ASSERT_TRUE(op.ok()) << op.error().message;
  deps::Dependencies d = deps::extract_dependencies(op->ir);
  EXPECT_FALSE(d.tractable);
  EXPECT_EQ(d.reason, "ltree operator _descendant on public.tree.path");
  EXPECT_EQ(d.tables[0].predicate.kind, deps::Predicate::Kind::kUnknown);
}

}  // namespace
}  // namespace liveql::compiler

// Operation limits (compiler::Limits), deep input values, and the spec's executable-definition
// rules, through compile() over the shop schema.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <limits>

#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/dependencies.hpp"
#include "liveql/compiler/sql.hpp"
#include "schema_fixture.hpp"

namespace liveql::compiler {
namespace {

namespace json = boost::json;

constexpr size_t kHuge = std::numeric_limits<size_t>::max();

Limits unlimited() {
  Limits l;
  l.max_query_depth = kHuge;
  l.max_fields = kHuge;
  l.max_aliases = kHuge;
  l.max_root_fields = kHuge;
  l.max_relations = kHuge;
  l.parse.max_depth = kHuge;
  l.parse.max_document_bytes = 16 << 20;
  l.parse.max_tokens = 1 << 22;
  return l;
}

class LimitsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { schema_ = test::shop_schema(); }
  static Result<CompiledOperation> run(const std::string& q, const Limits& limits = {},
                                       const std::string& vars = "{}",
                                       std::optional<std::string> op = {}) {
    Request r;
    r.query = q;
    json::parse_options deep;
    deep.max_depth = 10'000;
    r.variables = json::parse(vars, {}, deep).as_object();
    r.operation_name = std::move(op);
    return compile(*schema_, r, Session{}, limits);
  }
  static void expect_ok(const std::string& q, const Limits& limits = {},
                        const std::string& vars = "{}", std::optional<std::string> op = {}) {
    auto r = run(q, limits, vars, std::move(op));
    EXPECT_TRUE(r.ok()) << q.substr(0, 200) << "\n" << r.error().message << " " << r.error().path;
  }
  static void expect_error(const std::string& q, const std::string& message,
                           const Limits& limits = {}, const std::string& vars = "{}",
                           std::optional<std::string> op = {}, const std::string& path = "$") {
    auto r = run(q, limits, vars, std::move(op));
    ASSERT_FALSE(r.ok()) << q.substr(0, 200);
    EXPECT_EQ(r.error().code, ErrorCode::kValidationFailed);
    EXPECT_EQ(r.error().message, message) << q.substr(0, 200);
    EXPECT_EQ(r.error().path, path);
  }
  static std::shared_ptr<const Schema> schema_;
};
std::shared_ptr<const Schema> LimitsTest::schema_;

// `{ orders { id id ... } }` with `n` fields in all.
std::string n_fields(size_t n) {
  std::string q = "{ orders {";
  for (size_t i = 1; i < n; ++i) q += " id";
  return q + " } }";
}

// `{ orders { a0: id a1: id ... } }`
std::string n_aliases(size_t n, const std::string& root = "orders",
                      const std::string& field = "id") {
  std::string q = "{ " + root + " {";
  for (size_t i = 0; i < n; ++i) q += " a" + std::to_string(i) + ": " + field;
  return q + " } }";
}

// The issue's fan-out: F0 spreads F1 `width` times, F1 spreads F2 ..., the last selects id.
std::string fan_out(int levels, int width = 10) {
  std::string q = "query { users { ...F0 } }\n";
  for (int i = 0; i < levels; ++i) {
    q += "fragment F" + std::to_string(i) + " on users {";
    for (int j = 0; j < width; ++j) q += " ...F" + std::to_string(i + 1);
    q += " }\n";
  }
  return q + "fragment F" + std::to_string(levels) + " on users { id }\n";
}

// `{ orders { user { orders { user ... { id } } } } }`, `depth` fields deep.
std::string nested_relations(size_t depth) {
  std::string q = "{ ";
  for (size_t i = 0; i + 1 < depth; ++i) q += i % 2 == 0 ? "orders { " : "user { ";
  q += "id";
  for (size_t i = 0; i + 1 < depth; ++i) q += " }";
  return q + " }";
}

TEST_F(LimitsTest, MaxFields) {
  Limits l;
  l.max_fields = 10;
  expect_ok(n_fields(10), l);
  expect_error(n_fields(11),
               "the operation selects 11 fields, more than the limit of 10 "
               "(--max-fields)",
               l);
  // Counted after fragment expansion: 1 + 3 x (1 + 2).
  const std::string spread =
      "{ orders { ...F ...F ...F } } fragment F on orders { user { id } id }";
  l.max_fields = 10;
  expect_ok(spread, l);
  l.max_fields = 9;
  expect_error(spread, "the operation selects 10 fields, more than the limit of 9 (--max-fields)",
               l);
  expect_ok(n_fields(Limits{}.max_fields));
}

TEST_F(LimitsTest, MaxAliases) {
  Limits l;
  l.max_aliases = 5;
  l.max_fields = kHuge;
  expect_ok(n_aliases(5), l);
  expect_error(n_aliases(6),
               "a selection set has 6 aliased fields, more than the limit of 5 "
               "(--max-aliases)",
               l);
  // Per selection set: five in each of two sets is fine.
  expect_ok("{ orders { a: id b: id c: id d: id e: id user { a: id b: id c: id d: id e: id } } }",
            l);
  // Fragments spread into a set count there.
  const std::string spread = "{ orders { x: id ...F ...F } } fragment F on orders { a: id b: id }";
  expect_ok(spread, l);
  l.max_aliases = 4;
  expect_error(spread,
               "a selection set has 5 aliased fields, more than the limit of 4 "
               "(--max-aliases)",
               l);
  expect_ok(n_aliases(Limits{}.max_aliases));
  expect_error(n_aliases(Limits{}.max_aliases + 1),
               "a selection set has " + std::to_string(Limits{}.max_aliases + 1) +
                   " aliased fields, more than the limit of " +
                   std::to_string(Limits{}.max_aliases) + " (--max-aliases)");
}

TEST_F(LimitsTest, MaxRootFields) {
  Limits l;
  l.max_root_fields = 3;
  const std::string three = "{ orders { id } users { id } __typename ";
  expect_ok(three + "}", l);
  expect_error(three + "delivery_agents { id } }",
               "the operation has 4 root fields, more than the limit of 3 (--max-root-fields)", l);
  // A dashboard: dozens of root fields at the defaults.
  std::string dashboard = "{";
  for (int i = 0; i < 60; ++i)
    dashboard += " o" + std::to_string(i) +
                 ": orders_aggregate(where: {user_id: {_eq: " + std::to_string(i) +
                 "}}) { aggregate { count } }";
  expect_ok(dashboard + " }");
}

TEST_F(LimitsTest, MaxRelations) {
  Limits l;
  l.max_relations = 4;
  const std::string four =
      "{ orders { id user { id } items { id } items_aggregate { aggregate { "
      "count } } } ";
  expect_ok(four + "}", l);
  expect_error(four + "delivery_agents { id } }",
               "the operation selects 5 tables and relationships, more than the limit of 4 "
               "(--max-relations)",
               l);
  // The issue's shape: many aliases of a relationship under one root field.
  Limits defaults;
  defaults.max_aliases = kHuge;
  expect_error(n_aliases(2000, "users", "orders { id }"),
               "the operation selects 2001 tables and relationships, more than the limit of " +
                   std::to_string(defaults.max_relations) + " (--max-relations)",
               defaults);
}

TEST_F(LimitsTest, MaxDepth) {
  Limits l;
  l.max_query_depth = 5;
  expect_ok(nested_relations(5), l);
  expect_error(nested_relations(6),
               "the operation nests 6 fields deep, more than the limit of 5 (--max-depth)", l);
  // Fragments add their depth where they are spread.
  l.max_query_depth = 2;
  expect_error("{ orders { ...F } } fragment F on orders { user { id } }",
               "the operation nests 3 fields deep, more than the limit of 2 (--max-depth)", l);
}

TEST_F(LimitsTest, DepthIsCappedWhateverTheLimit) {
  // 200 levels compile, build SQL and dependencies (recursions once per level, under ASan).
  auto r = run(nested_relations(200), unlimited());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(sql::single_query(r->ir).empty());
  EXPECT_FALSE(sql::multiplexed_query(r->ir).empty());
  EXPECT_EQ(deps::extract_dependencies(r->ir).tables.size(), 199u);
  expect_error(nested_relations(201),
               "the operation nests 201 fields deep, more than the limit of 200 (--max-depth)",
               unlimited());
  // A chain of fragments nesting one level each is not bounded by the parser's depth.
  std::string chain = "{ orders { ...F0 } }\n";
  for (int i = 0; i < 5000; ++i) {
    chain += "fragment F" + std::to_string(i) +
             (i % 2 == 0 ? " on orders { user {" : " on users { orders {") + " ...F" +
             std::to_string(i + 1) + " } }\n";
  }
  chain += "fragment F5000 on orders { id }\n";
  expect_error(chain,
               "the operation nests 5002 fields deep, more than the limit of 200 "
               "(--max-depth)",
               unlimited());
}

TEST_F(LimitsTest, FanOutIsRefusedWithoutExpanding) {
  const auto start = std::chrono::steady_clock::now();
  expect_error(fan_out(10),
               "the operation selects 10000000001 fields, more than the limit of 10000 "
               "(--max-fields)");
  // 10^30 fields: the count saturates.
  expect_error(fan_out(30),
               "the operation selects 18446744073709551615 fields, more than the limit of "
               "10000 (--max-fields)");
  // Generous: expanding even the first document would take minutes.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  // At the limit, a fan-out still compiles: 1 + 10^4 fields would not, 1 + 10^3 does.
  expect_ok(fan_out(3));
}

TEST_F(LimitsTest, LongFragmentChainsUseNoStack) {
  // 5000 fragments spreading one another at one level: collected without recursion.
  std::string chain = "{ users { ...F0 } }\n";
  for (int i = 0; i < 5000; ++i)
    chain += "fragment F" + std::to_string(i) + " on users { ...F" + std::to_string(i + 1) + " }\n";
  chain += "fragment F5000 on users { id name }\n";
  auto r = run(chain, unlimited());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->ir.fields[0].select.fields.size(), 2u);
  // The same chain closed into a cycle.
  std::string cycle = chain.substr(0, chain.rfind("fragment F5000"));
  cycle += "fragment F5000 on users { ...F0 }\n";
  expect_error(cycle, "the fragment definition(s) F0 form a cycle", unlimited());
}

TEST_F(LimitsTest, IntrospectionAndSubscriptionsAtTheDefaults) {
  expect_ok(R"(
    query IntrospectionQuery { __schema { queryType { name } types { ...FullType } } }
    fragment FullType on __Type { kind name fields(includeDeprecated: true) { name args {
      ...InputValue } type { ...TypeRef } } inputFields { ...InputValue } }
    fragment InputValue on __InputValue { name type { ...TypeRef } defaultValue }
    fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind
      name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }
      } } })");
  // Subscriptions are compiled by the same compile(): the same limits hold before they join a
  // cohort.
  std::string sub = "subscription" + n_aliases(5000, "users", "orders { id }");
  expect_error(sub,
               "a selection set has 5000 aliased fields, more than the limit of 100 "
               "(--max-aliases)");
  std::string sub_fan = fan_out(10);
  sub_fan.replace(0, 5, "subscription");
  expect_error(sub_fan,
               "the operation selects 10000000001 fields, more than the limit of 10000 "
               "(--max-fields)");
}

// ---- deep input values ----

// {_and: [{_and: [ ... {id: {_gt: 0}} ... ]}]}, `levels` _and deep.
std::string and_chain(int levels, const std::string& leaf) {
  std::string s;
  for (int i = 0; i < levels; ++i) s += "{\"_and\": [";
  s += leaf;
  for (int i = 0; i < levels; ++i) s += "]}";
  return s;
}

std::string graphql_and_chain(int levels) {
  std::string s;
  for (int i = 0; i < levels; ++i) s += "{_and: [";
  s += "{id: {_gt: 0}}";
  for (int i = 0; i < levels; ++i) s += "]}";
  return s;
}

void expect_deep_filter(const CompiledOperation& op, int levels) {
  const ir::BoolExp* e = op.ir.fields.at(0).select.where.get();
  int depth = 0;
  while (e && e->kind == ir::BoolExp::Kind::kAnd && !e->children.empty()) {
    e = e->children.back().get();
    ++depth;
  }
  EXPECT_GE(depth, levels);
  const std::string single = sql::single_query(op.ir);
  EXPECT_NE(single.find("\"id\""), std::string::npos);
  EXPECT_FALSE(sql::multiplexed_query(op.ir).empty());
  auto d = deps::extract_dependencies(op.ir);
  ASSERT_EQ(d.tables.size(), 1u);
  EXPECT_TRUE(d.tractable);
}

TEST_F(LimitsTest, SixtyFourDeepAndInlineAndInVariables) {
  auto inline_op = run("{ orders(where: " + graphql_and_chain(64) + ") { id } }");
  ASSERT_TRUE(inline_op.ok()) << inline_op.error().message;
  expect_deep_filter(*inline_op, 64);
  auto var_op = run("query($w: orders_bool_exp) { orders(where: $w) { id } }", {},
                    "{\"w\": " + and_chain(64, R"({"id": {"_gt": 0}})") + "}");
  ASSERT_TRUE(var_op.ok()) << var_op.error().message;
  expect_deep_filter(*var_op, 64);
  EXPECT_EQ(sql::single_query(inline_op->ir), sql::single_query(var_op->ir));
}

TEST_F(LimitsTest, ValuesAtTheParserCap) {
  // 249 _and levels nest values 500 deep: the most the parser ever accepts.
  Limits l;
  l.parse.max_value_depth = kHuge;
  auto inline_op = run("{ orders(where: " + graphql_and_chain(249) + ") { id } }", l);
  ASSERT_TRUE(inline_op.ok()) << inline_op.error().message;
  expect_deep_filter(*inline_op, 249);
  auto var_op = run("query($w: orders_bool_exp) { orders(where: $w) { id } }", l,
                    "{\"w\": " + and_chain(249, R"({"id": {"_gt": 0}})") + "}");
  ASSERT_TRUE(var_op.ok()) << var_op.error().message;
  expect_deep_filter(*var_op, 249);
  expect_error("query($w: orders_bool_exp) { orders(where: $w) { id } }",
               "the variable 'w' nests deeper than the limit of 500", l,
               "{\"w\": " + and_chain(250, R"({"id": {"_gt": 0}})") + "}", {},
               "$.variableValues.w");
}

TEST_F(LimitsTest, ValueDepthDefault) {
  // 256 levels pass, inline and as a variable; one more fails in both.
  expect_ok("query($j: jsonb) { orders(where: {notes: {_contains: $j}}) { id } }", {},
            "{\"j\": " + std::string(256, '[') + std::string(256, ']') + "}");
  expect_error("query($j: jsonb) { orders(where: {notes: {_contains: $j}}) { id } }",
               "the variable 'j' nests deeper than the limit of 256", {},
               "{\"j\": " + std::string(257, '[') + std::string(257, ']') + "}", {},
               "$.variableValues.j");
  // where's object (1) + notes' object (2) + 254 lists = 256.
  expect_ok("{ orders(where: {notes: {_contains: " + std::string(254, '[') + std::string(254, ']') +
            "}}) { id } }");
  auto r = run("{ orders(where: {notes: {_contains: " + std::string(255, '[') +
               std::string(255, ']') + "}}) { id } }");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("a value nests deeper than the limit of 256"), std::string::npos)
      << r.error().message;
}

// ---- executable definitions (GraphQL spec section 5) ----

TEST_F(LimitsTest, OperationNames) {
  expect_error("query A { orders { id } } query A { users { id } }",
               "multiple definitions for operation 'A'", {}, "{}", "A");
  expect_error("{ orders { id } } query B { users { id } }",
               "operationName cannot be used when an anonymous operation exists in the document",
               {}, "{}", "B");
  expect_error("{ orders { id } } query B { users { id } }",
               "exactly one operation has to be present in the document when operationName is "
               "not specified");
  expect_ok("query A { orders { id } } query B { users { id } }", {}, "{}", "A");
}

TEST_F(LimitsTest, Fragments) {
  expect_error("{ orders { id } } fragment F on orders { id } fragment F on orders { id }",
               "multiple definitions for fragment 'F'");
  expect_error("{ orders { id ...G } } fragment F on orders { id }",
               "reference to undefined fragment 'G'");
  expect_error("{ orders { ...F } } fragment F on Int { id }",
               "fragment 'F' cannot condition on non composite type 'Int'");
  expect_error("{ orders { ... on Int { id } } }",
               "fragment cannot condition on non composite type 'Int'");
  expect_error("{ orders { ...F } } fragment F on nope { id }",
               "type 'nope' not found in the schema");
  expect_error("{ orders { id } } fragment F on orders { id }", "fragment 'F' is never used");
  // Used only by an unused fragment: unused too.
  expect_error("{ orders { id } } fragment F on orders { ...G } fragment G on orders { id }",
               "fragment 'F' is never used");
  // Used by another operation of the document: fine.
  expect_ok("query A { orders { id } } query B { orders { ...F } } fragment F on orders { id }", {},
            "{}", "A");
  expect_error("{ orders { ...A } } fragment A on orders { ...B } fragment B on orders { ...A }",
               "the fragment definition(s) A form a cycle");
}

TEST_F(LimitsTest, ArgumentsAndDirectives) {
  expect_error("{ orders(limit: 1, limit: 2) { id } }",
               "there can be only one argument named 'limit'");
  expect_error("{ orders { id @skip(if: true, if: false) } }",
               "there can be only one argument named 'if'");
  expect_error("query Q @skip(if: true) { orders { id } }",
               "directive 'skip' is not allowed on a query");
  expect_error("subscription S @include(if: true) { orders { id } }",
               "directive 'include' is not allowed on a subscription");
  expect_error("query Q @cached { orders { id } }",
               "directive 'cached' is not defined in the schema");
  // Hasura's directive for a subscription with several root fields; on nothing else.
  expect_ok("subscription S @_multiple_top_level_fields { orders { id } users { id } }");
  expect_error("subscription S { orders { id } users { id } }",
               "subscriptions must select one top level field");
  expect_error("query Q @_multiple_top_level_fields { orders { id } }",
               "directive '_multiple_top_level_fields' is not defined in the schema");
  expect_error("{ orders { ...F } } fragment F on orders @skip(if: true) { id }",
               "directive 'skip' is not allowed on a fragment definition");
  expect_error("query($x: Boolean @skip(if: true)) { orders { id @skip(if: $x) } }",
               "directive 'skip' is not allowed on a variable definition");
}

TEST_F(LimitsTest, Variables) {
  expect_error("query($x: Int, $x: Int) { orders(limit: $x) { id } }",
               "multiple definitions for variable 'x'");
  // Declared and never used is accepted, as Hasura accepts it.
  expect_ok("query($x: Int) { orders { id } }");
  // A use in a skipped field is still a use that must be defined.
  expect_error("{ orders { id items(limit: $n) @skip(if: true) { id } } }", "unbound variable 'n'");
  // Uses in fragments and directives count.
  expect_ok(
      "query($n: Int, $s: Boolean!) { orders { ...F } } "
      "fragment F on orders { id @skip(if: $s) items(limit: $n) { id } }",
      {}, R"({"n": 1, "s": false})");
}

}  // namespace
}  // namespace liveql::compiler

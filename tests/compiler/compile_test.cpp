#include "liveql/compiler/compile.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "liveql/compiler/plan.hpp"
#include "liveql/compiler/sql.hpp"
#include "schema/bool_exp.hpp"
#include "schema_fixture.hpp"

namespace liveql::compiler {
namespace {

namespace json = boost::json;

class CompileTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { schema_ = test::shop_schema(); }
  static Session user(const std::string& id = "7") {
    Session s;
    s.role = "user";
    s.is_admin = false;
    s.variables["x-hasura-user-id"] = id;
    return s;
  }
  Result<CompiledOperation> run(std::string_view q, const Session& s = Session{},
                                std::string vars = "{}", std::optional<std::string> op = {}) {
    Request r;
    r.query = q;
    r.variables = json::parse(vars).as_object();
    r.operation_name = std::move(op);
    return compile(*schema_, r, s);
  }
  void expect_error(std::string_view q, const std::string& message, const std::string& path,
                    const Session& s = Session{}, std::string vars = "{}") {
    auto r = run(q, s, vars);
    ASSERT_FALSE(r.ok()) << q;
    EXPECT_EQ(r.error().code, ErrorCode::kValidationFailed) << q;
    EXPECT_EQ(r.error().message, message) << q;
    EXPECT_EQ(r.error().path, path) << q;
  }
  static std::shared_ptr<const Schema> schema_;
};
std::shared_ptr<const Schema> CompileTest::schema_;

// An Int beyond 32 bits is Hasura's parse-failed, worded as its JSON decoder words it, with
// the number shown as Haskell's Scientific shows it; literals and variables alike.
TEST_F(CompileTest, IntOutOfBoundsIsParseFailed) {
  auto expect = [](const Result<CompiledOperation>& r, const std::string& shown,
                   const std::string& path) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kParseFailed);
    EXPECT_EQ(r.error().message, "The value " + shown +
                                     " lies outside the bounds or is not an integer.  Maybe it "
                                     "is a float, or is there integer overflow?");
    EXPECT_EQ(r.error().path, path);
  };
  expect(run("{ orders(limit: 3000000000) { id } }"), "3.0e9", "$.selectionSet.orders.args.limit");
  expect(run("{ orders(where: {id: {_eq: -2147483649}}) { id } }"), "-2.147483649e9",
         "$.selectionSet.orders.args.where.id._eq");
  expect(
      run("query($id: Int!) { orders_by_pk(id: $id) { id } }", Session{}, R"({"id": 2147483648})"),
      "2.147483648e9", "$.variableValues.id");
  expect(run("query($id: Int!) { orders_by_pk(id: $id) { id } }", Session{}, R"({"id": 1.5})"),
         "1.5", "$.variableValues.id");
  EXPECT_TRUE(run("{ orders(where: {id: {_eq: 2147483647}}) { id } }").ok());
}

TEST_F(CompileTest, SelectWithWhereOrderLimit) {
  auto r = run(R"({ orders(where: {status: {_eq: "placed"}, total: {_gt: 5}},
                           order_by: [{created_at: desc}, {user: {name: asc}}],
                           limit: 10, offset: 2, distinct_on: [created_at]) { id total user { name } } })");
  ASSERT_TRUE(r.ok()) << r.error().message << " " << r.error().path;
  ASSERT_EQ(r->ir.fields.size(), 1u);
  const ir::RootField& rf = r->ir.fields[0];
  EXPECT_EQ(rf.kind, ir::RootField::Kind::kSelect);
  const ir::Select& s = rf.select;
  EXPECT_EQ(s.table.to_string(), "public.orders");
  ASSERT_TRUE(s.where);
  ASSERT_EQ(s.where->kind, ir::BoolExp::Kind::kAnd);
  EXPECT_EQ(s.where->children[0]->column, "status");
  EXPECT_EQ(s.where->children[0]->param.key, "p0");
  EXPECT_EQ(s.where->children[0]->param.pg_type, "\"public\".\"order_status\"");
  EXPECT_EQ(s.where->children[1]->op, ir::CompareOp::kGt);
  ASSERT_EQ(s.order_by.size(), 2u);
  EXPECT_TRUE(s.order_by[0].desc);
  EXPECT_TRUE(s.order_by[0].nulls_first);
  EXPECT_EQ(s.order_by[1].path.size(), 1u);
  EXPECT_EQ(s.order_by[1].column, "name");
  EXPECT_EQ(s.distinct_on, std::vector<std::string>{"created_at"});
  EXPECT_EQ(s.limit->key, "p2");
  EXPECT_EQ(s.offset->key, "p3");
  EXPECT_FALSE(s.permission_limit);
  ASSERT_EQ(s.fields.size(), 3u);
  EXPECT_EQ(s.fields[2].kind, ir::Field::Kind::kObjectRel);
  EXPECT_EQ(s.fields[2].join.mapping[0], (std::pair<std::string, std::string>{"user_id", "id"}));
  EXPECT_EQ(json::serialize(r->vars), R"({"p0":"placed","p1":"5","p2":10,"p3":2})");
  EXPECT_FALSE(r->static_data);
  EXPECT_EQ(r->root_field_name, "orders");
}

std::string shape(const CompiledOperation& op);

TEST_F(CompileTest, LiteralsAndVariablesGiveIdenticalIr) {
  auto a = run(R"({ orders(where: {id: {_in: [1, 2]}, status: {_eq: "placed"}}, limit: 3) {
                      id items(where: {quantity: {_gte: 2}}) { name } } })",
               user("1"));
  auto b = run(R"(query Q($ids: [Int!], $n: Int) {
                    orders(where: {id: {_in: $ids}, status: {_eq: "delivered"}}, limit: $n) {
                      id items(where: {quantity: {_gte: 9}}) { name } } })",
               user("2"), R"({"ids": [5, 6, 7], "n": 1})");
  ASSERT_TRUE(a.ok()) << a.error().message;
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(shape(*a), shape(*b));
  EXPECT_EQ(a->vars.size(), b->vars.size());
  EXPECT_EQ(json::serialize(b->vars.at("p0")), "[5,6,7]");
  // p0 ids, p1 status, p2 session user id (permission), p3 limit, then the nested select.
  EXPECT_EQ(b->vars.at("p2"), "2");
  EXPECT_EQ(a->vars.at("p2"), "1");
}

std::string bool_shape(const ir::BoolExpPtr& e) {
  if (!e) return "-";
  std::string s = std::to_string(static_cast<int>(e->kind)) + ":" + e->column + ":" +
                  std::to_string(static_cast<int>(e->op)) + ":" + e->param.key + ":" +
                  e->param.pg_type + (e->param.is_list ? "[]" : "") + "(";
  for (const auto& c : e->children) s += bool_shape(c) + ",";
  if (e->inner) s += "inner " + bool_shape(e->inner);
  return s + ")";
}
std::string select_shape(const ir::Select& s) {
  std::string out = s.table.to_string() + " where " + bool_shape(s.where);
  if (s.limit) out += " limit " + s.limit->key;
  if (s.permission_limit) out += " plimit " + s.permission_limit->key;
  for (const auto& f : s.fields) {
    out += " " + f.alias + "/" + std::to_string(static_cast<int>(f.kind));
    if (f.select) out += "{" + select_shape(*f.select) + "}";
  }
  return out;
}
std::string shape(const CompiledOperation& op) {
  std::string out;
  for (const auto& f : op.ir.fields) out += f.alias + ": " + select_shape(f.select) + "\n";
  return out;
}

TEST_F(CompileTest, PermissionsOfTwoRoles) {
  // user: filter on user_id, nested items get their own filter through `order`.
  auto u = run("{ orders { id items { id } } }", user("42"));
  ASSERT_TRUE(u.ok()) << u.error().message;
  const ir::Select& s = u->ir.fields[0].select;
  ASSERT_TRUE(s.where);
  EXPECT_EQ(s.where->column, "user_id");
  EXPECT_EQ(u->vars.at(s.where->param.key), "42");
  const ir::Select& items = *s.fields[1].select;
  ASSERT_TRUE(items.where);
  EXPECT_EQ(items.where->kind, ir::BoolExp::Kind::kRelationship);
  EXPECT_EQ(items.where->join.target.name, "orders");

  // agent: limited columns, a permission limit, no aggregate, no relationships to invisible
  // tables.
  Session agent;
  agent.role = "agent";
  agent.is_admin = false;
  agent.variables["x-hasura-user-id"] = "3";
  auto a = run("{ orders(limit: 5) { id status } }", agent);
  ASSERT_TRUE(a.ok()) << a.error().message;
  const ir::Select& as = a->ir.fields[0].select;
  EXPECT_EQ(as.where->column, "delivery_agent_id");
  ASSERT_TRUE(as.permission_limit);
  EXPECT_EQ(a->vars.at(as.permission_limit->key), 2);
  expect_error("{ orders { id total } }", "field 'total' not found in type: 'orders'",
               "$.selectionSet.orders.selectionSet.total", agent);
  expect_error("{ orders_aggregate { aggregate { count } } }",
               "field 'orders_aggregate' not found in type: 'query_root'",
               "$.selectionSet.orders_aggregate", agent);
  expect_error("{ users { id } }", "field 'users' not found in type: 'query_root'",
               "$.selectionSet.users", agent);
  expect_error("{ orders(where: {total: {_eq: 1}}) { id } }",
               "field 'total' not found in type: 'orders_bool_exp'",
               "$.selectionSet.orders.args.where.total", agent);

  // A missing session variable is an error.
  Session nobody = user();
  nobody.variables.clear();
  auto m = run("{ orders { id } }", nobody);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().message, "missing session variable: \"x-hasura-user-id\"");
  EXPECT_EQ(m.error().code, ErrorCode::kNotFound);

  // Admin: no filter at all; untracked tables do not exist.
  auto ad = run("{ orders { id } }");
  ASSERT_TRUE(ad.ok());
  EXPECT_FALSE(ad->ir.fields[0].select.where);
  expect_error("{ secrets { id } }", "field 'secrets' not found in type: 'query_root'",
               "$.selectionSet.secrets");
  // Unknown role: empty schema.
  Session ghost;
  ghost.role = "ghost";
  ghost.is_admin = false;
  expect_error("{ orders { id } }", "field 'orders' not found in type: 'query_root'",
               "$.selectionSet.orders", ghost);
}

TEST_F(CompileTest, ByPkAndAggregate) {
  auto r = run(R"({ o: orders_by_pk(id: 4) { id }
                    orders_aggregate(where: {total: {_gt: 1}}) {
                      aggregate { count(columns: [user_id], distinct: true) sum { total }
                                  max { created_at } __typename }
                      nodes { id } } })",
               user());
  ASSERT_TRUE(r.ok()) << r.error().message << " " << r.error().path;
  const auto& pk = r->ir.fields[0];
  EXPECT_EQ(pk.kind, ir::RootField::Kind::kSelectByPk);
  EXPECT_EQ(pk.alias, "o");
  EXPECT_EQ(pk.select.where->kind, ir::BoolExp::Kind::kAnd);
  EXPECT_EQ(r->vars.at("p0"), 4);
  const auto& agg = r->ir.fields[1];
  ASSERT_EQ(agg.kind, ir::RootField::Kind::kAggregate);
  ASSERT_EQ(agg.aggregate.aggregate_fields.size(), 4u);
  EXPECT_EQ(agg.aggregate.aggregate_fields[0].count_columns, std::vector<std::string>{"user_id"});
  EXPECT_TRUE(agg.aggregate.aggregate_fields[0].count_distinct);
  EXPECT_EQ(agg.aggregate.aggregate_fields[1].function, "sum");
  EXPECT_EQ(agg.aggregate.aggregate_fields[1].columns[0].column, "total");
  EXPECT_EQ(agg.aggregate.aggregate_fields[3].kind, ir::AggregateField::Kind::kTypename);
  EXPECT_EQ(agg.aggregate.aggregate_fields[3].typename_, "orders_aggregate_fields");
  using Output = ir::Aggregate::Output;
  ASSERT_EQ(agg.aggregate.outputs.size(), 2u);
  EXPECT_EQ(agg.aggregate.outputs[0].kind, Output::Kind::kAggregate);
  EXPECT_EQ(agg.aggregate.outputs[0].end, 4u);
  EXPECT_EQ(agg.aggregate.outputs[1].kind, Output::Kind::kNodes);
  EXPECT_EQ(agg.aggregate.rows.fields.size(), 1u);
  // Array relationship aggregate inside an object (admin).
  auto n = run("{ orders { items_aggregate { aggregate { avg { price } } } } }");
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_EQ(n->ir.fields[0].select.fields[0].kind, ir::Field::Kind::kAggregate);
  expect_error("{ orders_by_pk { id } }", "missing required field 'id'",
               "$.selectionSet.orders_by_pk.args");
}

TEST_F(CompileTest, ValidationErrors) {
  expect_error("{ orders { bogus } }", "field 'bogus' not found in type: 'orders'",
               "$.selectionSet.orders.selectionSet.bogus");
  expect_error("{ orders(foo: 1) { id } }", "'orders' has no argument named 'foo'",
               "$.selectionSet.orders");
  expect_error("{ orders(limit: \"x\") { id } }",
               "expected a 32-bit integer for type 'Int', but found a string",
               "$.selectionSet.orders.args.limit");
  expect_error("{ orders(where: {id: {_like: \"a\"}}) { id } }",
               "field '_like' not found in type: 'Int_comparison_exp'",
               "$.selectionSet.orders.args.where.id._like");
  expect_error("{ orders(order_by: {id: up}) { id } }",
               "expected one of the values asc, asc_nulls_first, asc_nulls_last, desc, "
               "desc_nulls_first, or desc_nulls_last for type \"order_by\", but found \"up\"",
               "$.selectionSet.orders.args.order_by.id");
  expect_error("{ orders { id { x } } }", "unexpected subselection set for non-object field",
               "$.selectionSet.orders.selectionSet.id");
  expect_error("{ orders }", "missing selection set for 'orders'", "$.selectionSet.orders");
  expect_error("query($id: Int!) { orders_by_pk(id: $id) { id } }",
               "expecting a value for non-nullable variable: \"id\"", "$.variableValues");
  expect_error("query($id: Int!) { orders_by_pk(id: $id) { id } }",
               "expected a 32-bit integer for type 'Int', but found a string",
               "$.variableValues.id", Session{}, R"({"id": "x"})");
  expect_error("{ orders_by_pk(id: $id) { id } }", "unbound variable 'id'",
               "$.selectionSet.orders_by_pk.args.id");
  expect_error("query($id: String!) { orders_by_pk(id: $id) { id } }",
               "variable 'id' is declared as 'String!', but used where 'Int!' is expected",
               "$.selectionSet.orders_by_pk.args.id", Session{}, R"({"id": "1"})");
  expect_error("query($id: Int) { orders_by_pk(id: $id) { id } }",
               "variable 'id' is declared as 'Int', but used where 'Int!' is expected",
               "$.selectionSet.orders_by_pk.args.id", Session{}, R"({"id": 1})");
  expect_error("{ orders { id } }", "unexpected variables in variableValues: x", "$", Session{},
               R"({"x": 1})");
  expect_error("{ orders { ...F } }", "reference to undefined fragment 'F'", "$");
  expect_error("{ orders { ...A } } fragment A on orders { ...B } fragment B on orders { ...A }",
               "the fragment definition(s) A form a cycle", "$");
  expect_error("{ a: orders { id } a: users { id } }",
               "selection of both 'orders' and 'users' specify the same response name, 'a'",
               "$.selectionSet.a");
  expect_error("{ orders(limit: 1) { id } orders(limit: 2) { id } }",
               "inconsistent arguments between multiple selections of field 'orders'",
               "$.selectionSet.orders");
  expect_error("mutation { x }", "no mutations exist", "$", user());  // no write permission
  expect_error("mutation { x }", "field 'x' not found in type: 'mutation_root'",
               "$.selectionSet.x");
  expect_error("query A { orders { id } } query B { users { id } }",
               "exactly one operation has to be present in the document when operationName is "
               "not specified",
               "$");
  expect_error("subscription { orders { id } users { id } }",
               "subscriptions must select one top level field", "$");
  auto unknown_op = run("query A { orders { id } }", Session{}, "{}", "B");
  ASSERT_FALSE(unknown_op.ok());
  EXPECT_EQ(unknown_op.error().message, "no such operation found in the document: \"B\"");
  auto by_name = run("query A { orders { id } } query B { users { id } }", Session{}, "{}", "B");
  ASSERT_TRUE(by_name.ok());
  EXPECT_EQ(by_name->root_field_name, "users");
  auto parse = run("{ orders { id ");
  ASSERT_FALSE(parse.ok());
  EXPECT_EQ(parse.error().code, ErrorCode::kValidationFailed);
  Request deep;
  deep.query = "{ orders { user { orders { user { id } } } } }";
  Limits limits;
  limits.max_query_depth = 3;
  auto d = compile(*schema_, deep, Session{}, limits);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, ErrorCode::kValidationFailed);
}

TEST_F(CompileTest, FragmentsDirectivesMerging) {
  auto r = run(R"(query($skip: Boolean!) {
      orders { ...F  id @skip(if: $skip) total @include(if: false) ... on orders { user_id } }
      orders { status }
    }
    fragment F on orders { id created_at })",
               Session{}, R"({"skip": true})");
  ASSERT_TRUE(r.ok()) << r.error().message << " " << r.error().path;
  const auto& fields = r->ir.fields[0].select.fields;
  ASSERT_EQ(fields.size(), 4u);
  EXPECT_EQ(fields[0].alias, "id");
  EXPECT_EQ(fields[1].alias, "created_at");
  EXPECT_EQ(fields[2].alias, "user_id");
  EXPECT_EQ(fields[3].alias, "status");
  EXPECT_EQ(r->ir.fields.size(), 1u);
}

TEST_F(CompileTest, CustomScalarsAndJsonb) {
  auto r = run(R"(query($t: timestamptz, $n: numeric) {
      orders(where: {created_at: {_gte: $t}, total: {_eq: 12.50}, notes: {_contains: {a: [1]},
                     _has_keys_any: ["a", "b"]}, _or: [{total: {_lt: $n}}, {id: {_is_null: true}}]})
      { id } })",
               Session{}, R"({"t": "2026-01-01T00:00:00Z", "n": 3})");
  ASSERT_TRUE(r.ok()) << r.error().message << " " << r.error().path;
  EXPECT_EQ(json::serialize(r->vars),
            R"({"p0":"2026-01-01T00:00:00Z","p1":"12.50","p2":{"a":[1]},"p3":["a","b"],)"
            R"("p4":3,"p5":true})");
  const auto& w = r->ir.fields[0].select.where;
  EXPECT_EQ(w->children[2]->children[0]->op, ir::CompareOp::kContains);
  EXPECT_EQ(w->children[2]->children[1]->param.is_list, true);
  EXPECT_EQ(w->children[3]->kind, ir::BoolExp::Kind::kOr);
}

TEST_F(CompileTest, TypenameOnlyIsStatic) {
  auto r = run("{ __typename t: __typename }");
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->static_data);
  EXPECT_EQ(json::serialize(*r->static_data), R"({"__typename":"query_root","t":"query_root"})");
  EXPECT_EQ(r->ir.fields[0].kind, ir::RootField::Kind::kStatic);
  auto s = run("subscription { __typename }");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->static_data->at("__typename"), "subscription_root");
}

// Hasura's metadata also spells permission filters with a bare value for _eq, `$` for `_`
// (operators and connectives) and `_ne` for `_neq`: each builds what the canonical spelling does.
TEST(PermissionSpellingTest, ShorthandsCompileAsTheCanonicalFilter) {
  auto schema_with = [](const std::string& filter) -> std::shared_ptr<const Schema> {
    const std::string md = R"({"version": 3, "sources": [{"name": "default", "kind": "postgres",
        "tables": [{"table": {"schema": "public", "name": "orders"}, "select_permissions": [
          {"role": "user", "permission": {"columns": ["id", "status"], "filter": )" +
                           filter + R"(}}]}, {"table": {"schema": "public", "name": "users"}}]}]})";
    auto parsed = metadata::parse_metadata(md);
    EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().message);
    if (!parsed.ok()) return nullptr;
    auto built = build_schema(test::shop_catalog(), *parsed);
    EXPECT_TRUE(built.ok()) << filter << ": " << (built.ok() ? "" : built.error().message);
    return built.ok() ? *built : nullptr;
  };
  Session s;
  s.role = "user";
  s.is_admin = false;
  s.variables["x-hasura-user-id"] = "7";
  auto sql_of = [&](const std::shared_ptr<const Schema>& schema) -> std::string {
    if (!schema) return "no schema";
    Request r;
    r.query = "{ orders { id status } }";
    auto op = compile(*schema, r, s);
    if (!op.ok()) return op.error().message;
    return sql::single_query(op->ir) + " " + json::serialize(op->vars);
  };
  const std::string canonical = sql_of(schema_with(
      R"({"_or": [{"user_id": {"_eq": "X-Hasura-User-Id"}}, {"status": {"_neq": "placed"}}]})"));
  EXPECT_NE(canonical.find("\"7\""), std::string::npos) << canonical;
  EXPECT_EQ(sql_of(schema_with(
                R"({"$or": [{"user_id": "X-Hasura-User-Id"}, {"status": {"$ne": "placed"}}]})")),
            canonical);
  EXPECT_EQ(
      sql_of(schema_with(
          R"({"_or": [{"user_id": {"$eq": "X-Hasura-User-Id"}}, {"status": {"_ne": "placed"}}]})")),
      canonical);
  // `_exists._table` as a bare name: a table in `public`.
  const std::string exists = sql_of(schema_with(
      R"({"_exists": {"_table": {"schema": "public", "name": "users"}, "_where": {"id": {"_eq": 1}}}})"));
  EXPECT_NE(exists.find("EXISTS"), std::string::npos) << exists;
  EXPECT_EQ(sql_of(schema_with(R"({"$exists": {"_table": "users", "_where": {"id": 1}}})")),
            exists);
  // A bare value is only a metadata spelling: a user `where` is validated as GraphQL.
  Request bad;
  bad.query = "{ orders(where: {status: \"placed\"}) { id } }";
  EXPECT_FALSE(compile(*schema_with(R"({"user_id": "X-Hasura-User-Id"})"), bad, s).ok());
}

// Column comparison operators in permission filters: a column of the row ("price", ["price"]) or,
// through ["$", col], of the table the permission is on, from inside a relationship.
TEST(PermissionSpellingTest, ColumnComparisonsCompareColumnsNotValues) {
  auto build = [](const std::string& filter) {
    const std::string md = R"({"version": 3, "sources": [{"name": "default", "kind": "postgres",
        "tables": [{"table": {"schema": "public", "name": "order_items"},
          "object_relationships": [{"name": "order", "using": {"foreign_key_constraint_on": "order_id"}}],
          "select_permissions": [{"role": "user", "permission": {"columns": ["id", "quantity"],
            "filter": )" + filter +
                           R"(}}]}, {"table": {"schema": "public", "name": "orders"}}]}]})";
    auto parsed = metadata::parse_metadata(md);
    EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().message);
    return build_schema(test::shop_catalog(), *parsed);
  };
  Session s;
  s.role = "user";
  s.is_admin = false;
  auto sql_of = [&](const std::string& filter) -> std::string {
    auto schema = build(filter);
    if (!schema.ok()) return "error: " + schema.error().message;
    Request r;
    r.query = "{ order_items { id } }";
    auto op = compile(**schema, r, s);
    if (!op.ok()) return "error: " + op.error().message;
    EXPECT_TRUE(op->vars.empty()) << json::serialize(op->vars);
    return sql::single_query(op->ir);
  };
  std::string same_row = sql_of(R"({"quantity": {"_clte": "id"}})");
  EXPECT_NE(same_row.find(R"(."quantity" <= t)"), std::string::npos) << same_row;
  EXPECT_NE(same_row.find(R"(."id")"), std::string::npos) << same_row;
  EXPECT_EQ(sql_of(R"({"quantity": {"$clte": ["id"]}})"), same_row);
  // Inside the relationship, "$" is the order item; the bare name the order.
  std::string root = sql_of(R"({"order": {"user_id": {"_ceq": ["$", "quantity"]}}})");
  std::string here = sql_of(R"({"order": {"user_id": {"_ceq": "id"}}})");
  auto exists_alias = [](const std::string& sql) {
    const std::string inner = sql.substr(sql.find("EXISTS (SELECT 1 FROM"));
    return inner.substr(inner.find(" AS ") + 4, 2);
  };
  ASSERT_NE(root.find("EXISTS"), std::string::npos) << root;
  const std::string a = exists_alias(root);
  EXPECT_EQ(root.find("(" + a + R"(."user_id" = )" + a + "."), std::string::npos) << root;
  EXPECT_NE(root.find("(" + a + R"(."user_id" = )"), std::string::npos) << root;
  EXPECT_NE(root.find(R"(."quantity"))"), std::string::npos) << root;
  const std::string b = exists_alias(here);
  EXPECT_NE(here.find("(" + b + R"(."user_id" = )" + b + R"(."id")"), std::string::npos) << here;
  for (const char* op : {"_ceq", "_cne", "_cgt", "_clt", "_cgte", "_clte"})
    EXPECT_EQ(sql_of(std::string(R"({"quantity": {")") + op + R"(": "id"}})").rfind("error", 0),
              std::string::npos)
        << op;
  EXPECT_NE(sql_of(R"({"quantity": {"_ceq": "nope"}})").find("column \"nope\" does not exist"),
            std::string::npos);
  EXPECT_NE(sql_of(R"({"quantity": {"_ceq": 3}})").find("expected a column name"),
            std::string::npos);
  // Only metadata spells column comparisons: a user `where` is validated as GraphQL.
  auto schema = build("{}");
  ASSERT_TRUE(schema.ok());
  Request bad;
  bad.query = R"({ order_items(where: {quantity: {_ceq: "id"}}) { id } })";
  EXPECT_FALSE(compile(**schema, bad, s).ok());
}

// Array session variables (`_in: X-Hasura-Allowed-Ids`): PostgreSQL array syntax as Hasura reads
// it, or a JSON array.
TEST(SessionArrayTest, ReadsPostgresArraysAndJsonArrays) {
  auto parsed = [](std::string_view text) -> std::string {
    auto a = session_array(text);
    return a ? json::serialize(*a) : "none";
  };
  EXPECT_EQ(parsed("{1,2,3}"), R"(["1","2","3"])");
  EXPECT_EQ(parsed(" { 1 , 2 } "), R"(["1","2"])");
  EXPECT_EQ(parsed("{}"), "[]");
  EXPECT_EQ(parsed(R"({"a b","c\"d",e,NULL,"NULL"})"), R"(["a b","c\"d","e",null,"NULL"])");
  EXPECT_EQ(parsed("[1, \"x\", null]"), R"(["1","x",null])");
  for (const char* bad : {"", "1,2", "{1,2", "{1,,2}", "{1}x", "{\"a}", "{{1}}", "[[1]]", "[1"})
    EXPECT_EQ(parsed(bad), "none") << bad;
}

TEST(SessionArrayTest, ListOperatorsTakeArraySessionVariables) {
  const std::string md = R"({"version": 3, "sources": [{"name": "default", "kind": "postgres",
      "tables": [{"table": {"schema": "public", "name": "orders"}, "select_permissions": [
        {"role": "user", "permission": {"columns": ["id"],
          "filter": {"user_id": {"_in": "X-Hasura-Allowed-Ids"}}}}]}]}]})";
  auto parsed = metadata::parse_metadata(md);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  auto schema = build_schema(test::shop_catalog(), *parsed);
  ASSERT_TRUE(schema.ok()) << schema.error().message;
  Session s;
  s.role = "user";
  s.is_admin = false;
  s.variables["x-hasura-allowed-ids"] = "{3,4}";
  Request r;
  r.query = "{ orders { id } }";
  auto op = compile(**schema, r, s);
  ASSERT_TRUE(op.ok()) << op.error().message;
  bool found = false;
  for (const auto& kv : op->vars)
    if (kv.value() == json::parse(R"(["3","4"])")) found = true;
  EXPECT_TRUE(found) << json::serialize(op->vars);
  s.variables["x-hasura-allowed-ids"] = "3";
  auto bad = compile(**schema, r, s);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kParseFailed);
}

}  // namespace
}  // namespace liveql::compiler

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "liveql/compiler/compile.hpp"
#include "schema_fixture.hpp"

namespace liveql::compiler {
namespace {

namespace json = boost::json;

// GraphiQL's introspection query (graphql-js getIntrospectionQuery with descriptions).
constexpr const char* kGraphiqlQuery = R"(
query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}
)";

json::object introspect(const Session& s) {
  Request r;
  r.query = kGraphiqlQuery;
  auto c = compile(*test::shop_schema(), r, s);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message + " " + c.error().path);
  if (!c.ok() || !c->static_data) return {};
  return c->static_data->at("__schema").as_object();
}

const json::object* find_type(const json::object& schema, std::string_view name) {
  for (const auto& t : schema.at("types").as_array())
    if (t.at("name").is_string() && t.at("name").as_string() == name) return &t.as_object();
  return nullptr;
}

std::vector<std::string> names(const json::value& list) {
  std::vector<std::string> out;
  for (const auto& e : list.as_array()) out.emplace_back(e.at("name").as_string());
  return out;
}

std::string type_string(const json::value& t) {
  if (t.at("kind") == "NON_NULL") return type_string(t.at("ofType")) + "!";
  if (t.at("kind") == "LIST") return "[" + type_string(t.at("ofType")) + "]";
  return std::string(t.at("name").as_string());
}

TEST(IntrospectionTest, GraphiqlQueryAsAdmin) {
  json::object s = introspect(Session{});
  ASSERT_FALSE(s.empty());
  EXPECT_EQ(s.at("queryType").at("name"), "query_root");
  EXPECT_EQ(s.at("mutationType").at("name"), "mutation_root");
  EXPECT_EQ(s.at("subscriptionType").at("name"), "subscription_root");
  EXPECT_EQ(names(s.at("directives")), (std::vector<std::string>{"include", "skip"}));

  const json::object* q = find_type(s, "query_root");
  ASSERT_NE(q, nullptr);
  auto root = names(q->at("fields"));
  for (const char* f : {"orders", "orders_aggregate", "orders_by_pk", "users", "inventory_tags",
                        "inventory_tags_aggregate"})
    EXPECT_NE(std::find(root.begin(), root.end(), f), root.end()) << f;
  EXPECT_EQ(std::find(root.begin(), root.end(), "secrets"), root.end());
  EXPECT_EQ(std::find(root.begin(), root.end(), "inventory_tags_by_pk"), root.end());
  for (const auto& f : q->at("fields").as_array()) {
    if (f.at("name") == "orders") {
      EXPECT_EQ(type_string(f.at("type")), "[orders!]!");
      EXPECT_EQ(names(f.at("args")),
                (std::vector<std::string>{"distinct_on", "limit", "offset", "order_by", "where"}));
      EXPECT_EQ(type_string(f.at("args").at(3).at("type")), "[orders_order_by!]");
    }
    if (f.at("name") == "orders_by_pk") {
      EXPECT_EQ(type_string(f.at("args").at(0).at("type")), "Int!");
    }
  }

  const json::object* orders = find_type(s, "orders");
  ASSERT_NE(orders, nullptr);
  EXPECT_EQ(orders->at("kind"), "OBJECT");
  EXPECT_EQ(
      names(orders->at("fields")),
      (std::vector<std::string>{"created_at", "delivery_agent", "delivery_agent_id", "id", "items",
                                "items_aggregate", "notes", "status", "total", "user", "user_id"}));
  EXPECT_TRUE(orders->at("interfaces").as_array().empty());

  const json::object* bexp = find_type(s, "orders_bool_exp");
  ASSERT_NE(bexp, nullptr);
  EXPECT_EQ(bexp->at("kind"), "INPUT_OBJECT");
  auto bfields = names(bexp->at("inputFields"));
  EXPECT_EQ(bfields[0], "_and");
  EXPECT_NE(std::find(bfields.begin(), bfields.end(), "user"), bfields.end());

  auto scalar_kind = [&](const char* n) {
    const json::object* t = find_type(s, n);
    return t ? std::string(t->at("kind").as_string()) : std::string("missing");
  };
  for (const char* n : {"Int", "String", "Boolean", "Float", "numeric", "timestamptz", "jsonb",
                        "order_status", "float8", "_text"})
    EXPECT_EQ(scalar_kind(n), "SCALAR") << n;
  EXPECT_EQ(scalar_kind("order_by"), "ENUM");
  EXPECT_EQ(scalar_kind("orders_select_column"), "ENUM");
  EXPECT_EQ(scalar_kind("__Type"), "OBJECT");
  EXPECT_EQ(scalar_kind("__TypeKind"), "ENUM");

  auto ops = names(find_type(s, "String_comparison_exp")->at("inputFields"));
  for (const char* op :
       {"_eq", "_neq", "_gt", "_lt", "_gte", "_lte", "_in", "_nin", "_is_null", "_like", "_nlike",
        "_ilike", "_nilike", "_similar", "_nsimilar", "_regex", "_nregex", "_iregex", "_niregex"})
    EXPECT_NE(std::find(ops.begin(), ops.end(), op), ops.end()) << op;
  auto jops = names(find_type(s, "jsonb_comparison_exp")->at("inputFields"));
  for (const char* op :
       {"_contains", "_contained_in", "_has_key", "_has_keys_any", "_has_keys_all"})
    EXPECT_NE(std::find(jops.begin(), jops.end(), op), jops.end()) << op;
  auto agg = names(find_type(s, "orders_aggregate_fields")->at("fields"));
  EXPECT_EQ(agg,
            (std::vector<std::string>{"avg", "count", "max", "min", "stddev", "stddev_pop",
                                      "stddev_samp", "sum", "var_pop", "var_samp", "variance"}));
  EXPECT_EQ(names(find_type(s, "orders_sum_fields")->at("fields")),
            (std::vector<std::string>{"delivery_agent_id", "id", "total", "user_id"}));
}

TEST(IntrospectionTest, RolesSeeOnlyTheirTypes) {
  Session agent;
  agent.role = "agent";
  agent.is_admin = false;
  json::object s = introspect(agent);
  ASSERT_FALSE(s.empty());
  EXPECT_EQ(names(find_type(s, "orders")->at("fields")),
            (std::vector<std::string>{"id", "status"}));
  EXPECT_EQ(find_type(s, "users"), nullptr);
  EXPECT_EQ(find_type(s, "orders_aggregate"), nullptr);
  EXPECT_EQ(names(find_type(s, "query_root")->at("fields")),
            (std::vector<std::string>{"orders", "orders_by_pk"}));
}

TEST(IntrospectionTest, TypeQueryAliasesAndMixedWithData) {
  Request r;
  r.query = R"({ t: __type(name: "orders_order_by") { name kind __typename
                    inputFields { name } }
                  none: __type(name: "nope") { name }
                  orders { id } })";
  auto c = compile(*test::shop_schema(), r, Session{});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_FALSE(c->static_data);
  ASSERT_EQ(c->ir.fields.size(), 3u);
  EXPECT_EQ(c->ir.fields[0].kind, ir::RootField::Kind::kStatic);
  const json::value& t = c->vars.at(c->ir.fields[0].param.key);
  EXPECT_EQ(t.at("name"), "orders_order_by");
  EXPECT_EQ(t.at("__typename"), "__Type");
  EXPECT_EQ(
      names(t.at("inputFields")),
      (std::vector<std::string>{"created_at", "delivery_agent", "delivery_agent_id", "id",
                                "items_aggregate", "notes", "status", "total", "user", "user_id"}));
  EXPECT_TRUE(c->vars.at(c->ir.fields[1].param.key).is_null());

  r.query = "{ __schema { bogus } }";
  auto bad = compile(*test::shop_schema(), r, Session{});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "field 'bogus' not found in type: '__Schema'");
  EXPECT_EQ(bad.error().path, "$.selectionSet.__schema.selectionSet.bogus");
}

}  // namespace
}  // namespace liveql::compiler

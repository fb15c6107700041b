// The Relay schema (/v1beta1/relay) of each role: Node and its possible types, connection root
// fields instead of <t>, <t>_by_pk and <t>_aggregate, `id` the global id, <rel>_connection
// fields, introspection of the interface; and the shape of a connection's SQL.
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

std::vector<std::string> field_names(const TypeDef* t) {
  std::vector<std::string> out;
  if (t)
    for (const auto& f : t->fields) out.push_back(f.name + ": " + type_to_string(f.type));
  return out;
}

Result<CompiledOperation> relay(const Schema& s, std::string_view q, const Session& session = {}) {
  Request r;
  r.query = q;
  r.relay = true;
  return compile(s, r, session);
}

TEST(RelaySchemaTest, NodeConnectionsAndGlobalIds) {
  auto s = test::shop_schema();
  ASSERT_TRUE(s);
  const RoleSchema& admin = s->relay_roles.at("admin");
  // inventory.tags has no primary key: neither a node nor a connection.
  EXPECT_EQ(field_names(admin.type("query_root")),
            (std::vector<std::string>{
                "delivery_agents_connection: delivery_agentsConnection!", "node: Node",
                "order_items_connection: order_itemsConnection!",
                "orders_connection: ordersConnection!", "users_connection: usersConnection!"}));
  EXPECT_EQ(field_names(admin.type("subscription_root")), field_names(admin.type("query_root")));
  const TypeDef* node = admin.type("Node");
  ASSERT_TRUE(node);
  EXPECT_EQ(node->kind, TypeKind::kInterface);
  EXPECT_EQ(node->possible_types,
            (std::vector<std::string>{"delivery_agents", "order_items", "orders", "users"}));
  EXPECT_EQ(field_names(admin.type("users")),
            (std::vector<std::string>{"created_at: timestamptz!", "email: String!", "id: ID!",
                                      "name: String!", "orders: [orders!]!",
                                      "orders_aggregate: orders_aggregate!",
                                      "orders_connection: ordersConnection!"}));
  EXPECT_EQ(admin.type("users")->interfaces, (std::vector<std::string>{"Node"}));
  EXPECT_TRUE(admin.type("inventory_tags")->interfaces.empty());
  EXPECT_EQ(field_names(admin.type("usersConnection")),
            (std::vector<std::string>{"edges: [usersEdge!]!", "pageInfo: PageInfo!"}));
  EXPECT_EQ(field_names(admin.type("usersEdge")),
            (std::vector<std::string>{"cursor: String!", "node: users!"}));
  std::vector<std::string> args;
  for (const auto& a : admin.type("query_root")->field("users_connection")->args)
    args.push_back(a.name + ": " + type_to_string(a.type));
  EXPECT_EQ(args, (std::vector<std::string>{"after: String", "before: String",
                                            "distinct_on: [users_select_column!]", "first: Int",
                                            "last: Int", "order_by: [users_order_by!]",
                                            "where: users_bool_exp"}));
  // Types only the ordinary root fields reached are gone; those fields still reach stay.
  EXPECT_EQ(admin.type("users_aggregate"), nullptr);
  EXPECT_TRUE(admin.type("orders_aggregate"));
  EXPECT_TRUE(admin.type("users_bool_exp"));
  EXPECT_TRUE(admin.type("__Schema"));
  // The ordinary schema is untouched.
  EXPECT_EQ(s->roles.at("admin").type("Node"), nullptr);
  EXPECT_TRUE(s->roles.at("admin").type("query_root")->field("users_by_pk"));
  // A role sees nodes of the tables it may select, and the id whatever its columns.
  const RoleSchema& agent = s->relay_roles.at("agent");
  EXPECT_EQ(agent.type("Node")->possible_types, (std::vector<std::string>{"orders"}));
  EXPECT_EQ(field_names(agent.type("orders")),
            (std::vector<std::string>{"id: ID!", "status: order_status!"}));
}

TEST(RelaySchemaTest, IntrospectionShowsTheInterface) {
  auto s = test::shop_schema();
  ASSERT_TRUE(s);
  auto op = relay(*s, R"({ node: __type(name: "Node") { kind fields { name }
      possibleTypes { name } } users: __type(name: "users") { interfaces { name kind } } })");
  ASSERT_TRUE(op.ok()) << op.error().message;
  ASSERT_TRUE(op->static_data);
  EXPECT_EQ(json::serialize(*op->static_data),
            R"({"node":{"kind":"INTERFACE","fields":[{"name":"id"}],"possibleTypes":)"
            R"([{"name":"delivery_agents"},{"name":"order_items"},{"name":"orders"},)"
            R"({"name":"users"}]},"users":{"interfaces":[{"name":"Node","kind":"INTERFACE"}]}})");
}

TEST(RelaySchemaTest, FragmentsOnNodeTypesApplyByTheIdsTable) {
  auto s = test::shop_schema();
  ASSERT_TRUE(s);
  // [1, "public", "users", 7]
  auto op = relay(*s, R"({ node(id: "WzEsICJwdWJsaWMiLCAidXNlcnMiLCA3XQ==") {
      id ... on users { name } ... on orders { total } ... on Node { __typename } } })");
  ASSERT_TRUE(op.ok()) << op.error().message;
  ASSERT_EQ(op->ir.fields.size(), 1u);
  const ir::RootField& rf = op->ir.fields[0];
  EXPECT_EQ(rf.kind, ir::RootField::Kind::kSelectByPk);
  EXPECT_EQ(rf.select.table.name, "users");
  std::vector<std::string> aliases;
  for (const auto& f : rf.select.fields) aliases.push_back(f.alias);
  EXPECT_EQ(aliases, (std::vector<std::string>{"id", "name", "__typename"}));
}

TEST(RelaySchemaTest, ConnectionSqlReadsCursorsFromVarsAndPollsNothingExtra) {
  auto s = test::shop_schema();
  ASSERT_TRUE(s);
  Session user;
  user.role = "user";
  user.is_admin = false;
  user.variables["x-hasura-user-id"] = "1";
  auto op = relay(*s,
                  R"(subscription { orders_connection(first: 2, after: "eyJpZCIgOiAzfQ==") {
                       edges { cursor node { id total } } pageInfo { hasNextPage } } })",
                  user);
  ASSERT_TRUE(op.ok()) << op.error().message;
  const std::string sql = sql::multiplexed_query(op->ir);
  // The cursor is a value: in vars, never in the text.
  EXPECT_EQ(sql.find("eyJpZCIgOiAzfQ"), std::string::npos);
  EXPECT_NE(json::serialize(op->vars).find(R"({"id":3})"), std::string::npos);
  // Every row the predicate admits may change the page or pageInfo: an equality on the
  // session's user keeps the cohort in event mode.
  deps::Dependencies d = deps::extract_dependencies(op->ir);
  ASSERT_FALSE(d.tables.empty());
  EXPECT_TRUE(d.tables[0].all_rows_relevant);
  EXPECT_TRUE(d.tables[0].tractable) << d.tables[0].reason;
}

TEST(RelaySchemaTest, ANodeSelectsOnlyNodesFieldsOutsideFragments) {
  auto s = test::shop_schema();
  ASSERT_TRUE(s);
  // [1, "public", "users", 7]: users has `name`, but the selection is on Node.
  auto op = relay(*s, R"({ node(id: "WzEsICJwdWJsaWMiLCAidXNlcnMiLCA3XQ==") {
      id ... on Node { name } } })");
  ASSERT_FALSE(op.ok());
  EXPECT_EQ(op.error().message, "field 'name' not found in type: 'Node'");
  EXPECT_EQ(op.error().path, "$.selectionSet.node.selectionSet.name");
}

TEST(RelaySchemaTest, ConnectionsAndNodesCountAsRelations) {
  auto s = test::shop_schema();
  ASSERT_TRUE(s);
  Request r;
  r.query = R"({ users_connection { edges { node { orders_connection { edges { cursor } } } } }
                 node(id: "WzEsICJwdWJsaWMiLCAidXNlcnMiLCA3XQ==") { id } })";
  r.relay = true;
  Limits limits;
  limits.max_relations = 2;
  auto op = compile(*s, r, Session{}, limits);
  ASSERT_FALSE(op.ok());
  EXPECT_NE(op.error().message.find("--max-relations"), std::string::npos) << op.error().message;
  limits.max_relations = 3;
  EXPECT_TRUE(compile(*s, r, Session{}, limits).ok());
}

}  // namespace
}  // namespace liveql::compiler

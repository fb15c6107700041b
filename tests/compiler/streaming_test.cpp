// Streaming subscriptions in the compiler: <t>_stream on subscription_root only, its cursor input
// types as Hasura v2 names and describes them, the IR of one batch (cursor comparison, order,
// batch size, permission), the statement's stream columns, the plan's cursor key, the matcher's
// dependencies, and Hasura's validation errors.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/dependencies.hpp"
#include "liveql/compiler/plan.hpp"
#include "liveql/compiler/sql.hpp"
#include "schema/schema.hpp"
#include "schema_fixture.hpp"

namespace liveql::compiler {
namespace {

namespace json = boost::json;

std::vector<std::string> input_names(const TypeDef* t) {
  std::vector<std::string> out;
  if (t)
    for (const auto& f : t->input_fields) out.push_back(f.name + ": " + type_to_string(f.type));
  return out;
}

class StreamingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { schema_ = test::shop_schema(); }
  static Session user() { return test::role_session("user", "7"); }
  static Session agent() { return test::role_session("agent", "3"); }
  Result<CompiledOperation> run(std::string_view q, const Session& s = Session{},
                                std::string vars = "{}") {
    Request r;
    r.query = q;
    r.variables = json::parse(vars).as_object();
    return compile(*schema_, r, s);
  }
  void expect_error(std::string_view q, const std::string& message, const std::string& path,
                    const Session& s = Session{}) {
    auto r = run(q, s);
    ASSERT_FALSE(r.ok()) << q;
    EXPECT_EQ(r.error().code, ErrorCode::kValidationFailed) << q;
    EXPECT_EQ(r.error().message, message) << q;
    EXPECT_EQ(r.error().path, path) << q;
  }
  static std::shared_ptr<const Schema> schema_;
};
std::shared_ptr<const Schema> StreamingTest::schema_;

TEST_F(StreamingTest, StreamFieldsOnSubscriptionRootOnly) {
  const RoleSchema& admin = schema_->roles.at("admin");
  const TypeDef* sub = admin.type("subscription_root");
  ASSERT_TRUE(sub);
  const FieldDef* f = sub->field("orders_stream");
  ASSERT_TRUE(f);
  EXPECT_EQ(type_to_string(f->type), "[orders!]!");
  EXPECT_EQ(f->description, "fetch data from the table in a streaming manner: \"orders\"");
  std::vector<std::string> args;
  for (const auto& a : f->args) args.push_back(a.name + ": " + type_to_string(a.type));
  EXPECT_EQ(args,
            (std::vector<std::string>{"batch_size: Int!", "cursor: [orders_stream_cursor_input]!",
                                      "where: orders_bool_exp"}));
  EXPECT_EQ(f->args[0].description, "maximum number of rows returned in a single batch");
  EXPECT_EQ(f->args[1].description, "cursor to stream the results returned by the query");
  EXPECT_EQ(admin.type("query_root")->field("orders_stream"), nullptr);
  // Every tracked table, a schema-qualified one named as its type.
  EXPECT_TRUE(sub->field("inventory_tags_stream"));
  EXPECT_TRUE(sub->field("users_stream"));

  const TypeDef* cursor = admin.type("orders_stream_cursor_input");
  ASSERT_TRUE(cursor);
  EXPECT_EQ(cursor->kind, TypeKind::kInputObject);
  EXPECT_EQ(cursor->description, "Streaming cursor of the table \"orders\"");
  EXPECT_EQ(input_names(cursor),
            (std::vector<std::string>{"initial_value: orders_stream_cursor_value_input!",
                                      "ordering: cursor_ordering"}));
  EXPECT_EQ(cursor->input_fields[0].description, "Stream column input with initial value");
  EXPECT_EQ(cursor->input_fields[1].description, "cursor ordering");
  const TypeDef* ordering = admin.type("cursor_ordering");
  ASSERT_TRUE(ordering);
  EXPECT_EQ(ordering->kind, TypeKind::kEnum);
  EXPECT_EQ(ordering->description, "ordering argument of a cursor");
  EXPECT_EQ(ordering->enum_values, (std::vector<std::string>{"ASC", "DESC"}));
  EXPECT_EQ(ordering->enum_descriptions,
            (std::vector<std::string>{"ascending ordering of the cursor",
                                      "descending ordering of the cursor"}));
  const TypeDef* value = admin.type("orders_stream_cursor_value_input");
  ASSERT_TRUE(value);
  EXPECT_EQ(value->description,
            "Initial value of the column from where the streaming should start");
  EXPECT_EQ(input_names(value),
            (std::vector<std::string>{"created_at: timestamptz", "delivery_agent_id: Int",
                                      "id: Int", "notes: jsonb", "status: order_status",
                                      "total: numeric", "user_id: Int"}));
}

TEST_F(StreamingTest, RolesStreamTheColumnsTheyMaySelect) {
  const RoleSchema& agent = schema_->roles.at("agent");
  EXPECT_TRUE(agent.type("subscription_root")->field("orders_stream"));
  EXPECT_EQ(agent.type("subscription_root")->field("users_stream"), nullptr);
  EXPECT_EQ(input_names(agent.type("orders_stream_cursor_value_input")),
            (std::vector<std::string>{"id: Int", "status: order_status"}));
}

TEST_F(StreamingTest, OneBatchPastTheCursorUnderThePermission) {
  auto r = run(
      "subscription($n: Int!) { s: orders_stream(batch_size: $n, cursor: {initial_value: {id: 5}}"
      ", where: {status: {_eq: \"placed\"}}) { id status } }",
      agent(), R"({"n": 3})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->ir.fields.size(), 1u);
  const ir::RootField& rf = r->ir.fields[0];
  EXPECT_EQ(rf.kind, ir::RootField::Kind::kStream);
  EXPECT_EQ(rf.alias, "s");
  EXPECT_EQ(rf.stream_column, "id");
  EXPECT_FALSE(rf.stream_desc);
  EXPECT_EQ(r->vars.at(rf.stream_cursor.key), json::value(5));
  EXPECT_EQ(rf.stream_cursor.pg_type, "integer");
  ASSERT_EQ(rf.select.order_by.size(), 1u);
  EXPECT_EQ(rf.select.order_by[0].column, "id");
  EXPECT_FALSE(rf.select.order_by[0].desc);
  ASSERT_TRUE(rf.select.limit);
  EXPECT_EQ(r->vars.at(rf.select.limit->key), json::value(3));
  ASSERT_TRUE(rf.select.permission_limit);  // the agent's limit: 2
  EXPECT_EQ(r->vars.at(rf.select.permission_limit->key), json::value(2));
  const std::string sql = sql::multiplexed_query(r->ir);
  EXPECT_NE(sql.find("AS stream_cursor"), std::string::npos) << sql;
  EXPECT_NE(sql.find("AS stream_full"), std::string::npos) << sql;
  EXPECT_NE(sql.find("\"delivery_agent_id\""), std::string::npos) << sql;  // the permission
  // The plan names the cursor's vars key for the live core.
  const std::string cursor_key = rf.stream_cursor.key;
  Plan plan = plan_operation(std::move(*r));
  ASSERT_TRUE(plan.live);
  EXPECT_EQ(plan.live->stream_cursor_key, cursor_key);
  EXPECT_TRUE(plan.vars.contains(cursor_key));
  // A live query's plan has no cursor.
  auto live = run("subscription { orders { id } }");
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(plan_operation(std::move(*live)).live->stream_cursor_key, "");
}

TEST_F(StreamingTest, DescendingCursorAndListForm) {
  auto r =
      run("subscription { orders_stream(batch_size: 10, cursor: [null, {initial_value: "
          "{created_at: \"2020-01-01\"}, ordering: DESC}]) { id } }");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const ir::RootField& rf = r->ir.fields[0];
  EXPECT_EQ(rf.stream_column, "created_at");
  EXPECT_TRUE(rf.stream_desc);
  EXPECT_TRUE(rf.select.order_by[0].desc);
  EXPECT_EQ(r->vars.at(rf.stream_cursor.key), json::value("2020-01-01"));
  EXPECT_EQ(rf.stream_cursor.pg_type, "timestamp with time zone");
}

TEST_F(StreamingTest, OnlyRowsEnteringPastTheCursorAreRelevant) {
  auto r =
      run("subscription { orders_stream(batch_size: 2, cursor: {initial_value: {id: 0}}) "
          "{ id items { name } } }");
  ASSERT_TRUE(r.ok()) << r.error().message;
  deps::Dependencies d = deps::extract_dependencies(r->ir);
  ASSERT_GE(d.tables.size(), 1u);
  EXPECT_EQ(d.tables[0].table_key, "public.orders");
  EXPECT_TRUE(d.tables[0].tractable);
  EXPECT_TRUE(d.tables[0].all_rows_relevant);
  EXPECT_FALSE(d.tables[0].old_image_relevant);
  // A table without a primary key keeps its old image relevant (and polls).
  auto tags = run(
      "subscription { inventory_tags_stream(batch_size: 2, cursor: {initial_value: {weight: 1}}) "
      "{ label } }");
  ASSERT_TRUE(tags.ok()) << tags.error().message;
  deps::Dependencies t = deps::extract_dependencies(tags->ir);
  EXPECT_FALSE(t.tables[0].tractable);
  EXPECT_TRUE(t.tables[0].old_image_relevant);
}

TEST_F(StreamingTest, HasurasValidationErrors) {
  const std::string path = "$.selectionSet.orders_stream.args.cursor";
  expect_error(
      "subscription { orders_stream(batch_size: 1, cursor: {initial_value: {id: 1, "
      "user_id: 2}}) { id } }",
      "multiple column cursors are not supported yet", path);
  expect_error(
      "subscription { orders_stream(batch_size: 1, cursor: [{initial_value: {id: 1}}, "
      "{initial_value: {user_id: 2}}]) { id } }",
      "multiple column cursors are not supported yet", path);
  expect_error("subscription { orders_stream(batch_size: 1, cursor: {initial_value: {}}) { id } }",
               "one streaming column field is expected", path);
  expect_error("subscription { orders_stream(batch_size: 1, cursor: []) { id } }",
               "one streaming column field is expected", path);
  expect_error(
      "subscription { orders_stream(batch_size: -1, cursor: {initial_value: {id: 1}}) "
      "{ id } }",
      "unexpected negative value", "$.selectionSet.orders_stream.args.batch_size");
  // Only on subscription_root; a column the role may not select is no cursor.
  auto q = run("query { orders_stream(batch_size: 1, cursor: {initial_value: {id: 1}}) { id } }");
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.error().message, "field 'orders_stream' not found in type: 'query_root'");
  auto hidden = run(
      "subscription { orders_stream(batch_size: 1, cursor: {initial_value: {total: 1}}) { id } }",
      agent());
  ASSERT_FALSE(hidden.ok());
  EXPECT_NE(hidden.error().message.find("total"), std::string::npos) << hidden.error().message;
  // A stream's cursor is the subscription's: it streams alone.
  expect_error(
      "subscription @_multiple_top_level_fields { orders_stream(batch_size: 1, cursor: "
      "{initial_value: {id: 1}}) { id } users { id } }",
      "subscriptions must select one top level field", "$");
}

}  // namespace
}  // namespace liveql::compiler

#include "schema/schema.hpp"

#include <gtest/gtest.h>

#include "liveql/compiler/compile.hpp"
#include "schema_fixture.hpp"

namespace liveql::compiler {
namespace {

Result<std::shared_ptr<const Schema>> build(const std::string& md_text) {
  auto md = metadata::parse_metadata(md_text);
  EXPECT_TRUE(md.ok()) << (md.ok() ? "" : md.error().message);
  if (!md.ok()) return md.take_error();
  return build_schema(test::shop_catalog(), *md);
}

TEST(SchemaTest, RolesAndLiveModes) {
  auto s = test::shop_schema();
  ASSERT_TRUE(s);
  EXPECT_EQ(schema_roles(*s), (std::vector<std::string>{"admin", "agent", "user"}));
  EXPECT_EQ(table_live_mode(*s, {"public", "orders"}), LiveMode::kEvent);
  EXPECT_EQ(table_live_mode(*s, {"public", "order_items"}), LiveMode::kPoll);
  EXPECT_EQ(table_live_mode(*s, {"public", "users"}), std::nullopt);
  EXPECT_EQ(table_live_mode(*s, {"public", "secrets"}), std::nullopt);
}

std::vector<std::string> input_names(const TypeDef* t) {
  std::vector<std::string> out;
  if (t)
    for (const auto& f : t->input_fields) out.push_back(f.name + ": " + type_to_string(f.type));
  return out;
}

// Hasura's <t>_aggregate_order_by: count, and per function the columns it orders by (numeric
// ones, or for max/min the comparable ones), for every array relationship whose rows the role
// may select, with or without allow_aggregations.
TEST(SchemaTest, OrderByArrayRelationshipAggregates) {
  auto s = test::shop_schema();
  ASSERT_TRUE(s);
  const RoleSchema& admin = *s->role("admin");
  const TypeDef* ord = admin.type("orders_order_by");
  ASSERT_NE(ord, nullptr);
  ASSERT_NE(ord->input_field("items_aggregate"), nullptr);
  EXPECT_EQ(type_to_string(ord->input_field("items_aggregate")->type),
            "order_items_aggregate_order_by");
  const TypeDef* agg = admin.type("order_items_aggregate_order_by");
  ASSERT_NE(agg, nullptr);
  EXPECT_EQ(agg->description, "order by aggregate values of table \"order_items\"");
  EXPECT_EQ(input_names(agg),
            (std::vector<std::string>{
                "avg: order_items_avg_order_by", "count: order_by", "max: order_items_max_order_by",
                "min: order_items_min_order_by", "stddev: order_items_stddev_order_by",
                "stddev_pop: order_items_stddev_pop_order_by",
                "stddev_samp: order_items_stddev_samp_order_by", "sum: order_items_sum_order_by",
                "var_pop: order_items_var_pop_order_by", "var_samp: order_items_var_samp_order_by",
                "variance: order_items_variance_order_by"}));
  const TypeDef* avg = admin.type("order_items_avg_order_by");
  ASSERT_NE(avg, nullptr);
  EXPECT_EQ(avg->description, "order by avg() on columns of table \"order_items\"");
  EXPECT_EQ(input_names(avg), (std::vector<std::string>{"id: order_by", "order_id: order_by",
                                                        "price: order_by", "quantity: order_by"}));
  EXPECT_EQ(input_names(admin.type("order_items_max_order_by")),
            (std::vector<std::string>{"id: order_by", "name: order_by", "order_id: order_by",
                                      "price: order_by", "quantity: order_by"}));
  // users.orders for the role user: orders allow aggregations there; its visible columns only.
  const RoleSchema& user = *s->role("user");
  ASSERT_NE(user.type("users_order_by")->input_field("orders_aggregate"), nullptr);
  EXPECT_EQ(input_names(user.type("orders_sum_order_by")),
            (std::vector<std::string>{"id: order_by", "total: order_by", "user_id: order_by"}));
  // No array relationship the role agent sees leads to orders: no such type.
  EXPECT_EQ(s->role("agent")->type("orders_aggregate_order_by"), nullptr);
}

struct BadCase {
  const char* metadata;
  const char* message_part;
};

TEST(SchemaTest, InconsistentMetadataIsAnError) {
  const BadCase cases[] = {
      {"[{table: {name: nope}}]", "table \"public.nope\" does not exist"},
      {"[{table: {name: orders}, object_relationships: [{name: u, using: "
       "{foreign_key_constraint_on: total}}]}]",
       "no foreign key constraint exists on the column(s) total"},
      {"[{table: {name: orders}, object_relationships: [{name: u, using: "
       "{foreign_key_constraint_on: bogus}}]}]",
       "column \"bogus\" does not exist"},
      {"[{table: {name: orders}, object_relationships: [{name: u, using: "
       "{foreign_key_constraint_on: user_id}}]}]",
       "table \"public.users\" is not tracked"},
      {"[{table: {name: users}, array_relationships: [{name: o, using: "
       "{foreign_key_constraint_on: {table: orders, column: total}}}]}, {table: {name: orders}}]",
       "no foreign key constraint on public.orders (total)"},
      {"[{table: {name: users}, select_permissions: [{role: r, permission: "
       "{columns: [id, nope], filter: {}}}]}]",
       "column \"nope\" does not exist"},
      {"[{table: {name: users}, select_permissions: [{role: r, permission: "
       "{columns: [id], filter: {nope: {_eq: 1}}}}]}]",
       "field 'nope' not found in type: 'users_bool_exp'"},
      {"[{table: {name: users}, select_permissions: [{role: r, permission: "
       "{columns: [id], filter: {name: {_has_key: a}}}}]}]",
       "field '_has_key' not found in type: 'String_comparison_exp'"},
      {"[{table: {name: users}, select_permissions: [{role: r, permission: {columns: [id], "
       "filter: {}}}, {role: r, permission: {columns: [id], filter: {}}}]}]",
       "duplicate select permission"},
      {"[{table: {name: users}, configuration: {custom_name: orders}}, {table: {name: orders}}]",
       "the same GraphQL name \"orders\""},
  };
  for (const auto& c : cases) {
    auto s = build(c.metadata);
    ASSERT_FALSE(s.ok()) << c.metadata;
    EXPECT_NE(s.error().message.find(c.message_part), std::string::npos)
        << c.metadata << "\n  got: " << s.error().message;
  }
}

TEST(SchemaTest, ManualAndReverseObjectRelationshipsResolve) {
  auto s = build(R"([
    {table: {name: users}, object_relationships: [
      {name: last_order, using: {manual_configuration: {remote_table: {name: orders},
                                                       column_mapping: {id: user_id}}}},
      {name: any_order, using: {foreign_key_constraint_on: {table: {name: orders},
                                                           column: user_id}}}]},
    {table: {name: orders}}])");
  ASSERT_TRUE(s.ok()) << s.error().message;
}

}  // namespace
}  // namespace liveql::compiler

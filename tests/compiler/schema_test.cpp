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
  EXPECT_EQ(table_live_mode(*s, {"public", "orders"}), metadata::LiveMode::kEvent);
  EXPECT_EQ(table_live_mode(*s, {"public", "order_items"}), metadata::LiveMode::kPoll);
  EXPECT_EQ(table_live_mode(*s, {"public", "users"}), metadata::LiveMode::kDefault);
  EXPECT_EQ(table_live_mode(*s, {"public", "secrets"}), metadata::LiveMode::kDefault);
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

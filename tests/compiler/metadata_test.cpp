#include "liveql/compiler/metadata.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "schema_fixture.hpp"

namespace liveql::metadata {
namespace {

TEST(MetadataTest, ParsesExportWithRelationshipsAndPermissions) {
  auto md = parse_metadata(test::kShopMetadata);
  ASSERT_TRUE(md.ok()) << md.error().message;
  ASSERT_EQ(md->tables.size(), 5u);
  const TableMetadata& orders = md->tables[2];
  EXPECT_EQ(orders.table.to_string(), "public.orders");
  EXPECT_EQ(orders.live_mode, LiveMode::kEvent);
  ASSERT_EQ(orders.object_relationships.size(), 2u);
  EXPECT_EQ(orders.object_relationships[0].fk_columns, std::vector<std::string>{"user_id"});
  ASSERT_EQ(orders.array_relationships.size(), 1u);
  EXPECT_EQ(orders.array_relationships[0].fk_table->name, "order_items");
  ASSERT_EQ(orders.select_permissions.size(), 2u);
  EXPECT_TRUE(orders.select_permissions[0].allow_aggregations);
  EXPECT_EQ(orders.select_permissions[1].limit, 2);
  EXPECT_EQ(boost::json::serialize(orders.select_permissions[0].filter),
            R"({"user_id":{"_eq":"X-Hasura-User-Id"}})");
  EXPECT_TRUE(md->tables[3].select_permissions[0].all_columns);
  EXPECT_EQ(md->tables[4].table.schema, "inventory");
}

TEST(MetadataTest, ParsesJsonListAndManualRelationships) {
  auto md = parse_metadata(R"([
    {"table": {"schema": "public", "name": "a"},
     "configuration": {"custom_name": "things", "custom_column_names": {"id": "thingId"}},
     "object_relationships": [{"name": "b", "using": {"manual_configuration": {
        "remote_table": {"schema": "public", "name": "b"}, "column_mapping": {"b_id": "id"}}}}],
     "select_permissions": [{"role": "r", "permission": {"columns": ["id"],
        "filter": {"n": {"_eq": "5"}}, "limit": 10}}]}])");
  ASSERT_TRUE(md.ok()) << md.error().message;
  const auto& t = md->tables[0];
  EXPECT_EQ(t.custom_name, "things");
  EXPECT_EQ(t.custom_column_names.at("id"), "thingId");
  ASSERT_TRUE(t.object_relationships[0].remote_table);
  EXPECT_EQ(t.object_relationships[0].column_mapping[0],
            (std::pair<std::string, std::string>{"b_id", "id"}));
  // A quoted "5" stays a string.
  EXPECT_TRUE(t.select_permissions[0].filter.at("n").at("_eq").is_string());
}

TEST(MetadataTest, ManualObjectRelationshipInsertionOrder) {
  auto md = parse_metadata(R"([{"table": {"name": "author"}, "object_relationships": [
     {"name": "detail", "using": {"manual_configuration": {"remote_table": "author_detail",
        "column_mapping": {"id": "id"}, "insertion_order": "after_parent"}}},
     {"name": "boss", "using": {"manual_configuration": {"remote_table": "author",
        "column_mapping": {"boss_id": "id"}, "insertion_order": "before_parent"}}},
     {"name": "plain", "using": {"manual_configuration": {"remote_table": "author",
        "column_mapping": {"boss_id": "id"}}}}]}])");
  ASSERT_TRUE(md.ok()) << md.error().message;
  const auto& rels = md->tables[0].object_relationships;
  EXPECT_TRUE(rels[0].insert_after_parent);
  EXPECT_FALSE(rels[1].insert_after_parent);
  EXPECT_FALSE(rels[2].insert_after_parent);
  auto bad = parse_metadata(R"([{"table": {"name": "author"}, "object_relationships": [
     {"name": "detail", "using": {"manual_configuration": {"remote_table": "author_detail",
        "column_mapping": {"id": "id"}, "insertion_order": "later"}}}]}])");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().path,
            "$[0].object_relationships[0].using.manual_configuration.insertion_order");
}

TEST(MetadataTest, ParsesOneTableFile) {
  auto t = parse_table("table: {name: users, schema: public}\nlive_mode: poll\n");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->live_mode, LiveMode::kPoll);
  auto unset = parse_table("table: {name: users, schema: public}\n");
  ASSERT_TRUE(unset.ok()) << unset.error().message;
  EXPECT_EQ(unset->live_mode, std::nullopt);  // the server's --live-mode-default applies
}

TEST(MetadataTest, ErrorsCarryThePathOfTheBadEntry) {
  auto md = parse_metadata(R"([{"table": {"name": "a"}},
      {"table": {"name": "b"}, "select_permissions": [{"role": "r", "permission": {}}]}])");
  ASSERT_FALSE(md.ok());
  EXPECT_EQ(md.error().path, "$[1].select_permissions[0].permission");
  EXPECT_NE(md.error().message.find("columns"), std::string::npos);

  auto bad_mode = parse_table("table: {name: a}\nlive_mode: sometimes\n");
  ASSERT_FALSE(bad_mode.ok());
  EXPECT_EQ(bad_mode.error().path, "$.live_mode");
  auto number_mode = parse_table("table: {name: a}\nlive_mode: 3\n");
  ASSERT_FALSE(number_mode.ok());
  EXPECT_EQ(number_mode.error().path, "$.live_mode");

  auto not_yaml = parse_metadata("[{");
  ASSERT_FALSE(not_yaml.ok());
  EXPECT_EQ(not_yaml.error().code, ErrorCode::kParseFailed);

  auto twice = parse_metadata("[{table: {name: a}}, {table: {name: a}}]");
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().path, "$[1]");
}

}  // namespace
}  // namespace liveql::metadata

#include "liveql/compiler/catalog.hpp"

#include <gtest/gtest.h>

namespace liveql::catalog {
namespace {

TEST(CatalogTest, ParsesTheQueryOutput) {
  auto cat = parse_catalog(R"([{"schema":"public","name":"orders","kind":"r",
      "replica_identity":"f","comment":"",
      "columns":[{"name":"id","type":"integer","udt":"int4","type_schema":"pg_catalog",
                  "is_array":false,"nullable":false,"has_default":true,"enum_values":[],
                  "comment":""},
                 {"name":"status","type":"order_status","udt":"order_status",
                  "type_schema":"public","is_array":false,"nullable":true,"has_default":false,
                  "enum_values":["placed","done"],"comment":"state"}],
      "primary_key":["id"],
      "foreign_keys":[{"name":"fk","columns":["user_id"],"ref_schema":"public",
                       "ref_table":"users","ref_columns":["id"]}]},
      {"schema":"public","name":"v","kind":"v","replica_identity":"d","comment":null,
       "columns":[],"primary_key":[],"foreign_keys":[]}])");
  ASSERT_TRUE(cat.ok()) << cat.error().message;
  ASSERT_EQ(cat->tables.size(), 2u);
  const Table* t = cat->table({"public", "orders"});
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->replica_identity, 'f');
  EXPECT_EQ(t->primary_key, std::vector<std::string>{"id"});
  EXPECT_TRUE(t->column("id")->has_default);
  EXPECT_EQ(t->column("status")->enum_values, (std::vector<std::string>{"placed", "done"}));
  EXPECT_EQ(t->foreign_keys[0].ref_table.name, "users");
  EXPECT_TRUE(cat->table({"public", "v"})->is_view);
}

TEST(CatalogTest, RejectsMalformedInput) {
  EXPECT_FALSE(parse_catalog("not json").ok());
  EXPECT_FALSE(parse_catalog("{}").ok());
  auto r = parse_catalog(R"([{"schema":"public","name":"t","columns":[{"name":1}]}])");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().path, "$[0].columns[0].name");
}

TEST(CatalogTest, QueryIsOneStatement) {
  std::string q(catalog_query());
  EXPECT_EQ(q.find(';'), std::string::npos);
  EXPECT_NE(q.find("json_agg"), std::string::npos);
}

}  // namespace
}  // namespace liveql::catalog

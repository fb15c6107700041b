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

TEST(CatalogTest, ParsesConstraintsAndWhatARelationAccepts) {
  auto cat = parse_catalog(R"([{"schema":"public","name":"t","kind":"r",
      "columns":[{"name":"id","type":"integer","udt":"int4","generated_always":true}],
      "primary_key":["id"],
      "unique_constraints":[{"name":"t_pkey","primary_key":true,"columns":["id"]},
                            {"name":"t_a_b_key","primary_key":false,"columns":["a","b"]}],
      "insertable":true,"updatable":true,"deletable":true},
      {"schema":"public","name":"v","kind":"v","columns":[],
       "insertable":false,"updatable":true,"deletable":false},
      {"schema":"public","name":"old","kind":"r","columns":[]}])");
  ASSERT_TRUE(cat.ok()) << cat.error().message;
  const Table* t = cat->table({"public", "t"});
  ASSERT_EQ(t->unique_constraints.size(), 2u);
  EXPECT_EQ(t->unique_constraints[0].name, "t_pkey");
  EXPECT_TRUE(t->unique_constraints[0].primary_key);
  EXPECT_EQ(t->unique_constraints[1].columns, (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(t->unique_constraints[1].primary_key);
  EXPECT_TRUE(t->column("id")->generated_always);
  const Table* v = cat->table({"public", "v"});
  EXPECT_FALSE(v->insertable);
  EXPECT_TRUE(v->updatable);
  EXPECT_FALSE(v->deletable);
  // A document without the keys reads as a table that accepts everything.
  const Table* old = cat->table({"public", "old"});
  EXPECT_TRUE(old->insertable && old->updatable && old->deletable);
  EXPECT_TRUE(old->unique_constraints.empty());

  auto bad = parse_catalog(R"([{"schema":"public","name":"t","columns":[],
      "unique_constraints":[{"name":"","columns":["a"]}]}])");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().path, "$[0].unique_constraints[0]");
  auto bad_flag = parse_catalog(R"([{"schema":"public","name":"t","insertable":"yes"}])");
  ASSERT_FALSE(bad_flag.ok());
  EXPECT_EQ(bad_flag.error().path, "$[0].insertable");
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

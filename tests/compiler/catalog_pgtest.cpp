// catalog_query() on a real PostgreSQL, parsed by parse_catalog().
#include <gtest/gtest.h>

#include "liveql/compiler/catalog.hpp"
#include "support/test_db.hpp"

namespace liveql::catalog {
namespace {

TEST(CatalogPgTest, ReadsTablesColumnsKeysAndEnums) {
  std::string url = test::fresh_database("liveql_schema_catalog", R"SQL(
    create type mood as enum ('sad', 'ok', 'happy');
    create schema inv;
    create table users (id serial primary key, name text not null, tags text[],
                        score numeric(10,2), seen timestamptz default now());
    comment on table users is 'people';
    comment on column users.name is 'full name';
    create table pairs (a int, b int, note varchar(20), primary key (b, a));
    create table inv.items (id bigint generated always as identity primary key,
                            user_id int references users(id), m mood,
                            pa int, pb int,
                            constraint items_pair foreign key (pa, pb) references pairs (b, a));
    alter table inv.items replica identity full;
    create view user_names as select id, name from users;
    create materialized view mv as select 1 as one;
    create table parted (id int, k int) partition by range (k);
  )SQL");
  auto rows = test::query(url, std::string(catalog_query()));
  ASSERT_EQ(rows.size(), 1u);
  auto cat = parse_catalog(rows[0][0]);
  ASSERT_TRUE(cat.ok()) << cat.error().message << " at " << cat.error().path;

  const Table* users = cat->table({"public", "users"});
  ASSERT_NE(users, nullptr);
  EXPECT_EQ(users->comment, "people");
  ASSERT_EQ(users->columns.size(), 5u);
  EXPECT_EQ(users->columns[0].name, "id");
  EXPECT_EQ(users->columns[0].pg_type, "integer");
  EXPECT_EQ(users->columns[0].udt_name, "int4");
  EXPECT_TRUE(users->columns[0].has_default);
  EXPECT_FALSE(users->columns[0].nullable);
  EXPECT_EQ(users->columns[1].comment, "full name");
  EXPECT_EQ(users->columns[2].pg_type, "text[]");
  EXPECT_EQ(users->columns[2].udt_name, "_text");
  EXPECT_TRUE(users->columns[2].is_array);
  EXPECT_EQ(users->columns[3].pg_type, "numeric");
  EXPECT_EQ(users->columns[4].pg_type, "timestamp with time zone");
  EXPECT_EQ(users->primary_key, std::vector<std::string>{"id"});
  EXPECT_EQ(users->replica_identity, 'd');

  const Table* pairs = cat->table({"public", "pairs"});
  ASSERT_NE(pairs, nullptr);
  EXPECT_EQ(pairs->primary_key, (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(pairs->column("note")->pg_type, "character varying");

  const Table* items = cat->table({"inv", "items"});
  ASSERT_NE(items, nullptr);
  EXPECT_EQ(items->replica_identity, 'f');
  EXPECT_EQ(items->column("id")->udt_name, "int8");
  EXPECT_TRUE(items->column("id")->has_default);
  const Column* m = items->column("m");
  EXPECT_EQ(m->udt_name, "mood");
  EXPECT_EQ(m->type_schema, "public");
  EXPECT_EQ(m->enum_values, (std::vector<std::string>{"sad", "ok", "happy"}));
  ASSERT_EQ(items->foreign_keys.size(), 2u);
  const ForeignKey& pair_fk = items->foreign_keys[0];
  EXPECT_EQ(pair_fk.name, "items_pair");
  EXPECT_EQ(pair_fk.columns, (std::vector<std::string>{"pa", "pb"}));
  EXPECT_EQ(pair_fk.ref_columns, (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(items->foreign_keys[1].ref_table.to_string(), "public.users");

  EXPECT_TRUE(cat->table({"public", "user_names"})->is_view);
  EXPECT_TRUE(cat->table({"public", "mv"})->is_view);
  EXPECT_NE(cat->table({"public", "parted"}), nullptr);
  for (const auto& t : cat->tables) {
    EXPECT_NE(t.name.schema, "pg_catalog");
    EXPECT_NE(t.name.schema, "information_schema");
  }
}

}  // namespace
}  // namespace liveql::catalog

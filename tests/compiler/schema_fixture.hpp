// A hand-built catalog (users / orders / order_items / delivery_agents / tags) and Hasura
// metadata for the compiler's semantic tests.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "liveql/compiler/catalog.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/metadata.hpp"

namespace liveql::test {

inline catalog::Column col(std::string name, std::string pg_type, std::string udt,
                           bool nullable = false) {
  catalog::Column c;
  c.name = std::move(name);
  c.pg_type = std::move(pg_type);
  c.udt_name = std::move(udt);
  c.nullable = nullable;
  return c;
}

inline catalog::Catalog shop_catalog() {
  catalog::Catalog cat;
  catalog::Table users;
  users.name = {"public", "users"};
  users.columns = {col("id", "integer", "int4"), col("name", "text", "text"),
                   col("email", "text", "text"),
                   col("created_at", "timestamp with time zone", "timestamptz")};
  users.primary_key = {"id"};
  catalog::Table agents;
  agents.name = {"public", "delivery_agents"};
  agents.columns = {col("id", "integer", "int4"), col("name", "text", "text"),
                    col("phone", "text", "text", true), col("active", "boolean", "bool")};
  agents.primary_key = {"id"};
  catalog::Table orders;
  orders.name = {"public", "orders"};
  catalog::Column status = col("status", "order_status", "order_status");
  status.type_schema = "public";
  status.enum_values = {"placed", "delivered"};
  orders.columns = {col("id", "integer", "int4"),
                    col("user_id", "integer", "int4"),
                    col("delivery_agent_id", "integer", "int4", true),
                    status,
                    col("total", "numeric", "numeric"),
                    col("notes", "jsonb", "jsonb", true),
                    col("created_at", "timestamp with time zone", "timestamptz")};
  orders.primary_key = {"id"};
  orders.foreign_keys = {{"orders_user_id_fkey", {"user_id"}, {"public", "users"}, {"id"}},
                         {"orders_delivery_agent_id_fkey",
                          {"delivery_agent_id"},
                          {"public", "delivery_agents"},
                          {"id"}}};
  catalog::Table items;
  items.name = {"public", "order_items"};
  items.columns = {col("id", "integer", "int4"), col("order_id", "integer", "int4"),
                   col("name", "text", "text"), col("quantity", "integer", "int4"),
                   col("price", "numeric", "numeric")};
  items.primary_key = {"id"};
  items.foreign_keys = {{"order_items_order_id_fkey", {"order_id"}, {"public", "orders"}, {"id"}}};
  catalog::Table untracked;
  untracked.name = {"public", "secrets"};
  untracked.columns = {col("id", "integer", "int4")};
  catalog::Table tags;
  tags.name = {"inventory", "tags"};
  tags.columns = {col("label", "text", "text"), col("weight", "double precision", "float8", true),
                  col("names", "text[]", "_text", true)};
  tags.columns[2].is_array = true;
  cat.tables = {users, agents, orders, items, untracked, tags};
  return cat;
}

inline const char* kShopMetadata = R"YAML(
version: 3
sources:
- name: default
  kind: postgres
  tables:
  - table: {schema: public, name: users}
    array_relationships:
    - name: orders
      using:
        foreign_key_constraint_on: {column: user_id, table: {schema: public, name: orders}}
    select_permissions:
    - role: user
      permission:
        columns: [id, name, email]
        filter: {id: {_eq: X-Hasura-User-Id}}
  - table: {schema: public, name: delivery_agents}
    select_permissions:
    - role: user
      permission: {columns: [id, name], filter: {}}
  - table: {schema: public, name: orders}
    live_mode: event
    object_relationships:
    - name: user
      using: {foreign_key_constraint_on: user_id}
    - name: delivery_agent
      using: {foreign_key_constraint_on: delivery_agent_id}
    array_relationships:
    - name: items
      using:
        foreign_key_constraint_on: {column: order_id, table: {schema: public, name: order_items}}
    select_permissions:
    - role: user
      permission:
        columns: [id, user_id, status, total, notes, created_at]
        filter: {user_id: {_eq: X-Hasura-User-Id}}
        allow_aggregations: true
    - role: agent
      permission:
        columns: [id, status]
        filter: {delivery_agent_id: {_eq: X-Hasura-User-Id}}
        limit: 2
  - table: {schema: public, name: order_items}
    live_mode: poll
    object_relationships:
    - name: order
      using: {foreign_key_constraint_on: order_id}
    select_permissions:
    - role: user
      permission:
        columns: "*"
        filter: {order: {user_id: {_eq: X-Hasura-User-Id}}}
  - table: {schema: inventory, name: tags}
)YAML";

// A non-admin session of `role` with x-hasura-user-id = `user_id`.
inline compiler::Session role_session(std::string role, std::string user_id) {
  compiler::Session s;
  s.role = std::move(role);
  s.is_admin = false;
  s.variables["x-hasura-user-id"] = std::move(user_id);
  return s;
}

inline std::shared_ptr<const compiler::Schema> shop_schema() {
  auto md = metadata::parse_metadata(kShopMetadata);
  EXPECT_TRUE(md.ok()) << (md.ok() ? "" : md.error().message + " at " + md.error().path);
  auto s = compiler::build_schema(shop_catalog(), *md);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return s.ok() ? *s : nullptr;
}

}  // namespace liveql::test

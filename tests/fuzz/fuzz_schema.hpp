// The fixed schema the compiler and metadata fuzz targets run against: a catalog built in memory
// (no database) covering the column kinds the compiler treats differently (integers, numeric,
// text, boolean, enum, jsonb, timestamptz, arrays, a composite primary key, a table without a
// primary key, a second schema) and Hasura metadata with roles whose permissions use session
// variables, relationship filters, `_exists`, row limits and aggregations.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "liveql/compiler/catalog.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/metadata.hpp"

namespace liveql::fuzz {

inline catalog::Column column(std::string name, std::string pg_type, std::string udt,
                              bool nullable = false) {
  catalog::Column c;
  c.name = std::move(name);
  c.pg_type = std::move(pg_type);
  c.udt_name = std::move(udt);
  c.nullable = nullable;
  c.is_array = c.pg_type.ends_with("[]");
  return c;
}

inline catalog::Catalog shop_catalog() {
  catalog::Catalog cat;
  catalog::Table users;
  users.name = {"public", "users"};
  users.columns = {column("id", "integer", "int4"), column("name", "text", "text"),
                   column("email", "text", "text"), column("score", "bigint", "int8", true),
                   column("created_at", "timestamp with time zone", "timestamptz")};
  users.primary_key = {"id"};

  catalog::Table agents;
  agents.name = {"public", "delivery_agents"};
  agents.columns = {column("id", "integer", "int4"), column("name", "text", "text"),
                    column("phone", "text", "text", true), column("active", "boolean", "bool")};
  agents.primary_key = {"id"};

  catalog::Table orders;
  orders.name = {"public", "orders"};
  catalog::Column status = column("status", "order_status", "order_status");
  status.type_schema = "public";
  status.enum_values = {"placed", "preparing", "delivered"};
  orders.columns = {column("id", "integer", "int4"),
                    column("user_id", "integer", "int4"),
                    column("delivery_agent_id", "integer", "int4", true),
                    status,
                    column("total", "numeric", "numeric"),
                    column("notes", "jsonb", "jsonb", true),
                    column("tags", "text[]", "_text", true),
                    column("created_at", "timestamp with time zone", "timestamptz")};
  orders.primary_key = {"id"};
  orders.foreign_keys = {{"orders_user_id_fkey", {"user_id"}, {"public", "users"}, {"id"}},
                         {"orders_delivery_agent_id_fkey",
                          {"delivery_agent_id"},
                          {"public", "delivery_agents"},
                          {"id"}}};

  catalog::Table items;
  items.name = {"public", "order_items"};
  items.columns = {
      column("order_id", "integer", "int4"), column("line", "smallint", "int2"),
      column("name", "text", "text"),        column("quantity", "integer", "int4"),
      column("price", "numeric", "numeric"), column("weight", "double precision", "float8", true)};
  items.primary_key = {"order_id", "line"};
  items.foreign_keys = {{"order_items_order_id_fkey", {"order_id"}, {"public", "orders"}, {"id"}}};

  catalog::Table audit;  // no primary key: always polled
  audit.name = {"public", "audit_log"};
  audit.columns = {column("user_id", "integer", "int4", true), column("action", "text", "text"),
                   column("at", "timestamp without time zone", "timestamp")};
  audit.replica_identity = 'f';

  catalog::Table tags;
  tags.name = {"inventory", "tags"};
  tags.columns = {column("label", "text", "text"), column("uid", "uuid", "uuid", true),
                  column("names", "text[]", "_text", true)};
  tags.primary_key = {"label"};

  catalog::Table secrets;  // in the catalog, not tracked
  secrets.name = {"public", "secrets"};
  secrets.columns = {column("id", "integer", "int4")};

  cat.tables = {users, agents, orders, items, audit, tags, secrets};
  return cat;
}

inline constexpr const char* kShopMetadata = R"YAML(
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
    - name: audit
      using:
        manual_configuration:
          remote_table: {schema: public, name: audit_log}
          column_mapping: {id: user_id}
    select_permissions:
    - role: user
      permission:
        columns: [id, name, email, score]
        filter: {id: {_eq: X-Hasura-User-Id}}
        allow_aggregations: true
    - role: agent
      permission:
        columns: [id, name]
        filter: {orders: {delivery_agent_id: {_eq: X-Hasura-User-Id}}}
  - table: {schema: public, name: delivery_agents}
    select_permissions:
    - role: user
      permission: {columns: [id, name], filter: {}}
    - role: agent
      permission:
        columns: "*"
        filter: {_or: [{id: {_eq: X-Hasura-User-Id}}, {active: {_eq: true}}]}
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
        columns: [id, user_id, delivery_agent_id, status, total, notes, tags, created_at]
        filter: {user_id: {_eq: X-Hasura-User-Id}}
        allow_aggregations: true
    - role: agent
      permission:
        columns: [id, status, delivery_agent_id]
        filter:
          _and:
          - {delivery_agent_id: {_eq: X-Hasura-User-Id}}
          - _exists:
              _table: {schema: public, name: delivery_agents}
              _where: {active: {_eq: true}}
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
        allow_aggregations: true
  - table: {schema: public, name: audit_log}
    select_permissions:
    - role: user
      permission:
        columns: [action, at]
        filter: {user_id: {_eq: X-Hasura-User-Id}}
  - table: {schema: inventory, name: tags}
    configuration:
      custom_name: labels
      custom_column_names: {label: title}
    select_permissions:
    - role: user
      permission: {columns: [label, names], filter: {names: {_is_null: false}}}
)YAML";

// The schema, built once; a fixture that does not build is a bug in the fixture: abort loudly.
inline const compiler::Schema& shop_schema() {
  static const std::shared_ptr<const compiler::Schema> schema = [] {
    auto md = metadata::parse_metadata(kShopMetadata);
    if (!md) {
      std::fprintf(stderr, "fuzz fixture metadata: %s at %s\n", md.error().message.c_str(),
                   md.error().path.c_str());
      std::abort();
    }
    auto s = compiler::build_schema(shop_catalog(), *md);
    if (!s) {
      std::fprintf(stderr, "fuzz fixture schema: %s\n", s.error().message.c_str());
      std::abort();
    }
    return *s;
  }();
  return *schema;
}

inline compiler::Session role_session(std::string role, std::string user_id) {
  compiler::Session s;
  s.role = std::move(role);
  s.is_admin = s.role == "admin";
  if (!s.is_admin) s.variables["x-hasura-user-id"] = std::move(user_id);
  return s;
}

}  // namespace liveql::fuzz

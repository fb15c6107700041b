// The Relay schema of a role (/v1beta1/relay), as Hasura v2 builds it: derived from the role's
// ordinary type system. Every table with a primary key gets `id: ID!` (the global id, which
// replaces a column named id) and implements Node, with <t>Connection and <t>Edge types; array
// relationships to such tables get <rel>_connection; query_root and subscription_root hold
// node(id), <t>_connection and <fn>_connection (tracked functions returning such a table) only;
// mutation_root is the ordinary one.
#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "schema/role_builder.hpp"
#include "schema/schema.hpp"

namespace liveql::compiler {

namespace {

using detail::RoleBuilder;

bool has_node(const Schema& schema, const RoleSchema& rs, size_t table) {
  const RoleTable* rt = rs.table(table);
  return rt && rt->selectable && !schema.tables[table].table.primary_key.empty();
}

std::vector<InputValueDef> connection_args(const std::string& n) {
  return {
      RoleBuilder::input("after", named_type("String")),
      RoleBuilder::input("before", named_type("String")),
      RoleBuilder::input("distinct_on", list_of(non_null(named_type(n + "_select_column"))),
                         "distinct select on columns"),
      RoleBuilder::input("first", named_type("Int")),
      RoleBuilder::input("last", named_type("Int")),
      RoleBuilder::input("order_by", list_of(non_null(named_type(n + "_order_by"))),
                         "sort the rows by one or more columns"),
      RoleBuilder::input("where", named_type(n + "_bool_exp"), "filter the rows returned"),
  };
}

TypeDef page_info_type() {
  TypeDef t{TypeKind::kObject, "PageInfo"};
  t.fields.push_back(
      RoleBuilder::field("endCursor", non_null(named_type("String")), FieldRole::kNone));
  t.fields.push_back(
      RoleBuilder::field("hasNextPage", non_null(named_type("Boolean")), FieldRole::kNone));
  t.fields.push_back(
      RoleBuilder::field("hasPreviousPage", non_null(named_type("Boolean")), FieldRole::kNone));
  t.fields.push_back(
      RoleBuilder::field("startCursor", non_null(named_type("String")), FieldRole::kNone));
  return t;
}

FieldDef node_id_field(size_t table) {
  FieldDef f = RoleBuilder::field("id", non_null(named_type("ID")), FieldRole::kNodeId,
                                  "A globally unique identifier");
  f.table = table;
  return f;
}

// Drops the types no root reaches (the ordinary schema's <t>_aggregate of a root field that the
// Relay schema does not have, ...), so that introspection lists what Hasura's does. The built-in
// scalars and the introspection types stay.
void drop_unreachable_types(RoleSchema& rs) {
  std::set<std::string> reached;
  std::vector<std::string> todo{"query_root", "subscription_root", "mutation_root"};
  while (!todo.empty()) {
    std::string name = std::move(todo.back());
    todo.pop_back();
    const TypeDef* t = rs.type(name);
    if (!t || !reached.insert(name).second) continue;
    for (const auto& f : t->fields) {
      todo.push_back(base_name(f.type));
      for (const auto& a : f.args) todo.push_back(base_name(a.type));
    }
    for (const auto& f : t->input_fields) todo.push_back(base_name(f.type));
    for (const auto& i : t->interfaces) todo.push_back(i);
    for (const auto& p : t->possible_types) todo.push_back(p);
  }
  std::erase_if(rs.types, [&](const auto& entry) {
    const std::string& name = entry.first;
    if (reached.count(name) || name.starts_with("__")) return false;
    return !(name == "Int" || name == "Float" || name == "String" || name == "Boolean" ||
             name == "ID");
  });
}

}  // namespace

RoleSchema build_relay_role_schema(const Schema& schema, const RoleSchema& ordinary) {
  RoleSchema rs = ordinary;
  TypeDef node{TypeKind::kInterface, "Node"};
  node.description = "An object with globally unique ID";
  node.fields.push_back(node_id_field(0));
  TypeDef query{TypeKind::kObject, "query_root"};
  FieldDef node_root =
      RoleBuilder::field("node", named_type("Node"), FieldRole::kNode, "fetch object by id");
  node_root.args.push_back(
      RoleBuilder::input("id", non_null(named_type("ID")), "A globally unique id"));
  query.fields.push_back(std::move(node_root));

  for (const auto& [index, rt] : ordinary.tables) {
    if (!rt.selectable) continue;
    const TrackedTable& tt = schema.tables[index];
    const std::string& n = tt.gql_name;
    TypeDef& obj = rs.types.at(n);
    // <rel>_connection next to each array relationship whose rows are nodes.
    std::vector<FieldDef> added;
    for (const auto& f : obj.fields) {
      if (f.role != FieldRole::kArrayRel || !has_node(schema, ordinary, f.table)) continue;
      const std::string& tn = schema.tables[f.table].gql_name;
      FieldDef c =
          RoleBuilder::field(f.name + "_connection", non_null(named_type(tn + "Connection")),
                             FieldRole::kArrayRelConnection, "An array relationship connection");
      c.args = connection_args(tn);
      c.rel = f.rel;
      c.table = f.table;
      added.push_back(std::move(c));
    }
    for (auto& f : added) obj.fields.push_back(std::move(f));
    if (has_node(schema, ordinary, index)) {
      std::erase_if(obj.fields, [](const FieldDef& f) { return f.name == "id"; });
      obj.fields.push_back(node_id_field(index));
      obj.interfaces.push_back("Node");
      node.possible_types.push_back(n);

      TypeDef edge{TypeKind::kObject, n + "Edge"};
      edge.table = index;
      edge.fields.push_back(
          RoleBuilder::field("cursor", non_null(named_type("String")), FieldRole::kNone));
      FieldDef en = RoleBuilder::field("node", non_null(named_type(n)), FieldRole::kNone);
      en.table = index;
      edge.fields.push_back(std::move(en));
      TypeDef conn{TypeKind::kObject, n + "Connection"};
      conn.description = fmt::format("A Relay connection object on \"{}\"", n);
      conn.table = index;
      conn.fields.push_back(RoleBuilder::field(
          "edges", non_null(list_of(non_null(named_type(edge.name)))), FieldRole::kNone));
      conn.fields.push_back(
          RoleBuilder::field("pageInfo", non_null(named_type("PageInfo")), FieldRole::kNone));
      rs.types.insert_or_assign(edge.name, std::move(edge));
      rs.types.insert_or_assign(conn.name, std::move(conn));

      FieldDef root = RoleBuilder::field(
          n + "_connection", non_null(named_type(n + "Connection")), FieldRole::kSelectConnection,
          fmt::format("fetch data from the table: \"{}\"", RoleBuilder::table_text(tt)));
      root.args = connection_args(n);
      root.table = index;
      query.fields.push_back(std::move(root));
    }
    RoleBuilder::sort_fields(obj);
  }
  // <fn>_connection for each tracked function on the ordinary query_root whose rows are nodes.
  if (const TypeDef* ordinary_query = ordinary.type("query_root")) {
    for (const auto& f : ordinary_query->fields) {
      if (f.role != FieldRole::kFunction || !f.function_def ||
          !f.function_def->call.function.returns_set || !has_node(schema, ordinary, f.table))
        continue;
      const std::string& tn = schema.tables[f.table].gql_name;
      FieldDef c =
          RoleBuilder::field(f.name + "_connection", non_null(named_type(tn + "Connection")),
                             FieldRole::kFunctionConnection, f.description);
      if (const InputValueDef* a = f.arg("args")) c.args.push_back(*a);
      for (auto& a : connection_args(tn)) c.args.push_back(std::move(a));
      c.table = f.table;
      c.function_def = f.function_def;
      query.fields.push_back(std::move(c));
    }
  }
  std::sort(node.possible_types.begin(), node.possible_types.end());
  rs.types.insert_or_assign("Node", std::move(node));
  rs.types.insert_or_assign("PageInfo", page_info_type());
  RoleBuilder::sort_fields(query);
  TypeDef subscription = query;
  subscription.name = "subscription_root";
  rs.types.insert_or_assign("query_root", std::move(query));
  rs.types.insert_or_assign("subscription_root", std::move(subscription));
  drop_unreachable_types(rs);
  return rs;
}

}  // namespace liveql::compiler

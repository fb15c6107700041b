#include <fmt/format.h>

#include <algorithm>

#include "schema/bool_exp.hpp"
#include "schema/inherited_roles.hpp"
#include "schema/schema.hpp"
#include "schema/type_names.hpp"

namespace liveql::compiler {

namespace {

Error meta_error(std::string message) {
  return make_error(ErrorCode::kValidationFailed, "inconsistent metadata: " + std::move(message));
}

std::string default_gql_name(const catalog::QualifiedName& q) {
  return q.schema == "public" ? q.name : q.schema + "_" + q.name;
}

const catalog::ForeignKey* find_fk(const catalog::Table& t, const catalog::QualifiedName& ref,
                                   const std::vector<std::string>& columns) {
  for (const auto& fk : t.foreign_keys)
    if (fk.ref_table == ref && fk.columns == columns) return &fk;
  // Hasura matches a column set regardless of order.
  for (const auto& fk : t.foreign_keys) {
    if (fk.ref_table != ref || fk.columns.size() != columns.size()) continue;
    auto a = fk.columns, b = columns;
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    if (a == b) return &fk;
  }
  return nullptr;
}

const catalog::ForeignKey* find_fk_any(const catalog::Table& t,
                                       const std::vector<std::string>& columns) {
  for (const auto& fk : t.foreign_keys)
    if (fk.columns == columns) return &fk;
  return nullptr;
}

// A permission's column: its Postgres name, also when the metadata used the custom GraphQL name.
const std::string* permission_column(const TrackedTable& tt, const std::string& name) {
  if (const catalog::Column* c = tt.table.column(name)) return &c->name;
  return tt.postgres_column(name);
}

// Checks the insert, update and delete permissions of one table against its columns and turns
// every column they name into its Postgres name, so that later stages need not.
Status resolve_write_permissions(TrackedTable& tt) {
  const std::string tname = tt.table.name.to_string();
  auto resolve = [&](const char* kind, const std::string& role, std::string& column) -> Status {
    const std::string* pg = permission_column(tt, column);
    if (!pg)
      return meta_error(
          fmt::format("table \"{}\": {} permission for role \"{}\": column \"{}\" does not exist",
                      tname, kind, role, column));
    column = *pg;
    return Ok{};
  };
  auto resolve_all = [&](const char* kind, const std::string& role,
                         std::vector<std::string>& columns,
                         std::vector<metadata::ColumnPreset>& set) -> Status {
    for (auto& c : columns)
      if (auto s = resolve(kind, role, c); !s) return s;
    for (auto& p : set)
      if (auto s = resolve(kind, role, p.column); !s) return s;
    return Ok{};
  };
  auto unique_role = [&](const char* kind, const std::string& role,
                         std::set<std::string>& seen) -> Status {
    if (role == "admin")
      return meta_error(fmt::format("table \"{}\": {} permission for role \"admin\" is not allowed",
                                    tname, kind));
    if (!seen.insert(role).second)
      return meta_error(
          fmt::format("table \"{}\": duplicate {} permission for role \"{}\"", tname, kind, role));
    return Ok{};
  };
  std::set<std::string> inserts, updates, deletes;
  for (auto& p : tt.meta.insert_permissions) {
    if (auto s = unique_role("insert", p.role, inserts); !s) return s;
    if (auto s = resolve_all("insert", p.role, p.columns, p.set); !s) return s;
  }
  for (auto& p : tt.meta.update_permissions) {
    if (auto s = unique_role("update", p.role, updates); !s) return s;
    if (auto s = resolve_all("update", p.role, p.columns, p.set); !s) return s;
  }
  for (auto& p : tt.meta.delete_permissions)
    if (auto s = unique_role("delete", p.role, deletes); !s) return s;
  return Ok{};
}

}  // namespace

const std::string* TrackedTable::graphql_column(const std::string& column) const {
  for (const auto& [g, c] : column_names)
    if (c == column) return &g;
  return nullptr;
}
const std::string* TrackedTable::postgres_column(const std::string& graphql) const {
  for (const auto& [g, c] : column_names)
    if (g == graphql) return &c;
  return nullptr;
}
const Relationship* TrackedTable::relationship(const std::string& name) const {
  for (const auto& r : relationships)
    if (r.name == name) return &r;
  return nullptr;
}
const InputValueDef* FieldDef::arg(const std::string& n) const {
  for (const auto& a : args)
    if (a.name == n) return &a;
  return nullptr;
}
const FieldDef* TypeDef::field(const std::string& n) const {
  for (const auto& f : fields)
    if (f.name == n) return &f;
  return nullptr;
}
const InputValueDef* TypeDef::input_field(const std::string& n) const {
  for (const auto& f : input_fields)
    if (f.name == n) return &f;
  return nullptr;
}
bool RoleTable::sees(const std::string& column) const {
  return std::find(columns.begin(), columns.end(), column) != columns.end();
}
const TypeDef* RoleSchema::type(const std::string& n) const {
  auto it = types.find(n);
  if (it == types.end())
    if (auto r = renamed_types.find(n); r != renamed_types.end()) it = types.find(r->second);
  return it == types.end() ? nullptr : &it->second;
}
const RoleTable* RoleSchema::table(size_t index) const {
  auto it = tables.find(index);
  return it == tables.end() ? nullptr : &it->second;
}
const RoleSchema* Schema::role(const std::string& name, bool backend) const {
  if (backend) {
    auto it = backend_roles.find(name);
    if (it != backend_roles.end()) return &it->second;
  }
  auto it = roles.find(name);
  return it == roles.end() ? nullptr : &it->second;
}

gql::TypeRef named_type(const std::string& name) {
  gql::TypeRef t;
  t.kind = gql::TypeRef::Kind::kNamed;
  t.name = name;
  return t;
}
gql::TypeRef non_null(gql::TypeRef of) {
  gql::TypeRef t;
  t.kind = gql::TypeRef::Kind::kNonNull;
  t.of = std::make_shared<gql::TypeRef>(std::move(of));
  return t;
}
gql::TypeRef list_of(gql::TypeRef of) {
  gql::TypeRef t;
  t.kind = gql::TypeRef::Kind::kList;
  t.of = std::make_shared<gql::TypeRef>(std::move(of));
  return t;
}
std::string type_to_string(const gql::TypeRef& t) {
  switch (t.kind) {
    case gql::TypeRef::Kind::kNamed:
      return t.name;
    case gql::TypeRef::Kind::kList:
      return "[" + type_to_string(*t.of) + "]";
    case gql::TypeRef::Kind::kNonNull:
      return type_to_string(*t.of) + "!";
  }
  return t.name;
}
const std::string& base_name(const gql::TypeRef& t) {
  return t.kind == gql::TypeRef::Kind::kNamed ? t.name : base_name(*t.of);
}

// Hasura v2 names built-in types by their SQL names except for the four that map onto
// GraphQL's own scalars (int4, float4, text/varchar, bool); enums and arrays keep their
// pg_type name ("order_status", "_text").
std::string scalar_for(const catalog::Column& c) {
  const std::string& u = c.udt_name;
  if (u == "int4") return "Int";
  if (u == "float4") return "Float";
  if (u == "text" || u == "varchar") return "String";
  if (u == "bool") return "Boolean";
  if (u == "int2") return "smallint";
  if (u == "int8") return "bigint";
  if (u.empty()) return "String";
  return u;
}

std::string cast_type(const catalog::Column& c) {
  if (c.type_schema == "pg_catalog" || c.type_schema.empty()) {
    // format_type() without a modifier names char(n) "character", but as a cast that means
    // char(1): 'baaz'::character is 'b'. bpchar keeps the whole value; the column's own length
    // applies when it is stored.
    if (c.pg_type == "character") return "bpchar";
    if (c.pg_type == "character[]") return "bpchar[]";
    return c.pg_type;
  }
  // Quote each part: user types may need it.
  auto quote = [](const std::string& s) {
    std::string out = "\"";
    for (char ch : s) {
      if (ch == '"') out += '"';
      out += ch;
    }
    return out + "\"";
  };
  if (c.is_array && c.udt_name.size() > 1 && c.udt_name[0] == '_')
    return quote(c.type_schema) + "." + quote(c.udt_name.substr(1)) + "[]";
  return quote(c.type_schema) + "." + quote(c.udt_name);
}

Result<std::shared_ptr<const Schema>> build_schema(const catalog::Catalog& catalog,
                                                   const metadata::Metadata& metadata,
                                                   const SchemaOptions& options) {
  if (auto s = check_inherited_roles(metadata.inherited_roles); !s) return s.take_error();
  auto schema = std::make_shared<Schema>();
  schema->options = options;
  schema->customization = metadata.customization;
  schema->tables.reserve(metadata.tables.size());
  for (const auto& tm : metadata.tables) {
    const catalog::Table* t = catalog.table(tm.table);
    if (!t) return meta_error(fmt::format("table \"{}\" does not exist", tm.table.to_string()));
    TrackedTable tt;
    tt.table = *t;
    tt.meta = tm;
    tt.gql_name = tm.custom_name ? *tm.custom_name : default_gql_name(tm.table);
    for (const auto& [col, gname] : tm.custom_column_names)
      if (!t->column(col))
        return meta_error(
            fmt::format("column \"{}\" of custom_column_names does not exist in "
                        "table \"{}\"",
                        col, tm.table.to_string()));
    for (const auto& c : t->columns) {
      auto it = tm.custom_column_names.find(c.name);
      tt.column_names.emplace_back(it == tm.custom_column_names.end() ? c.name : it->second,
                                   c.name);
    }
    for (const auto& other : schema->tables)
      if (other.gql_name == tt.gql_name)
        return meta_error(fmt::format("tables \"{}\" and \"{}\" have the same GraphQL name \"{}\"",
                                      other.table.name.to_string(), tm.table.to_string(),
                                      tt.gql_name));
    schema->tables.push_back(std::move(tt));
  }
  if (auto s = resolve_enum_tables(*schema, catalog); !s) return s.take_error();
  if (auto s = resolve_functions(*schema, catalog, metadata); !s) return s.take_error();
  auto index_of = [&](const catalog::QualifiedName& q) -> std::optional<size_t> {
    for (size_t i = 0; i < schema->tables.size(); ++i)
      if (schema->tables[i].table.name == q) return i;
    return std::nullopt;
  };
  auto untracked = [](const TrackedTable& from, const std::string& rel,
                      const catalog::QualifiedName& q) {
    return meta_error(
        fmt::format("relationship \"{}\" of table \"{}\": table \"{}\" is not tracked", rel,
                    from.table.name.to_string(), q.to_string()));
  };
  auto check_columns = [](const catalog::Table& t, const std::string& rel,
                          const std::vector<std::string>& cols) -> Status {
    for (const auto& c : cols)
      if (!t.column(c))
        return meta_error(
            fmt::format("relationship \"{}\": column \"{}\" does not exist in table "
                        "\"{}\"",
                        rel, c, t.name.to_string()));
    return Ok{};
  };

  for (auto& tt : schema->tables) {
    const std::string tname = tt.table.name.to_string();
    std::set<std::string> names;
    for (const auto& [g, c] : tt.column_names) names.insert(g);
    auto add_name = [&](const std::string& n) -> Status {
      if (!names.insert(n).second)
        return meta_error(
            fmt::format("relationship \"{}\" of table \"{}\" conflicts with another "
                        "field of the same name",
                        n, tname));
      return Ok{};
    };
    for (const auto& orel : tt.meta.object_relationships) {
      if (auto s = add_name(orel.name); !s) return s.take_error();
      Relationship r{orel.name, false, 0, {}};
      if (orel.remote_table) {
        auto target = index_of(*orel.remote_table);
        if (!target) return untracked(tt, orel.name, *orel.remote_table);
        r.target = *target;
        std::vector<std::string> mine, theirs;
        for (const auto& [a, b] : orel.column_mapping) mine.push_back(a), theirs.push_back(b);
        if (auto s = check_columns(tt.table, orel.name, mine); !s) return s.take_error();
        if (auto s = check_columns(schema->tables[*target].table, orel.name, theirs); !s)
          return s.take_error();
        r.mapping = orel.column_mapping;
      } else if (orel.fk_table) {
        // The remote table holds the foreign key pointing at this table.
        auto target = index_of(*orel.fk_table);
        if (!target) return untracked(tt, orel.name, *orel.fk_table);
        const auto* fk = find_fk(schema->tables[*target].table, tt.table.name, orel.fk_columns);
        if (!fk)
          return meta_error(
              fmt::format("relationship \"{}\" of table \"{}\": no foreign key "
                          "constraint on {} ({}) referencing \"{}\"",
                          orel.name, tname, orel.fk_table->to_string(),
                          fmt::join(orel.fk_columns, ", "), tname));
        r.target = *target;
        for (size_t i = 0; i < fk->columns.size(); ++i)
          r.mapping.emplace_back(fk->ref_columns[i], fk->columns[i]);
      } else {
        if (auto s = check_columns(tt.table, orel.name, orel.fk_columns); !s) return s.take_error();
        const auto* fk = find_fk_any(tt.table, orel.fk_columns);
        if (!fk)
          return meta_error(
              fmt::format("relationship \"{}\" of table \"{}\": no foreign key "
                          "constraint exists on the column(s) {}",
                          orel.name, tname, fmt::join(orel.fk_columns, ", ")));
        auto target = index_of(fk->ref_table);
        if (!target) return untracked(tt, orel.name, fk->ref_table);
        r.target = *target;
        for (size_t i = 0; i < fk->columns.size(); ++i)
          r.mapping.emplace_back(fk->columns[i], fk->ref_columns[i]);
      }
      tt.relationships.push_back(std::move(r));
    }
    for (const auto& arel : tt.meta.array_relationships) {
      if (auto s = add_name(arel.name); !s) return s.take_error();
      Relationship r{arel.name, true, 0, {}};
      if (arel.remote_table) {
        auto target = index_of(*arel.remote_table);
        if (!target) return untracked(tt, arel.name, *arel.remote_table);
        r.target = *target;
        std::vector<std::string> mine, theirs;
        for (const auto& [a, b] : arel.column_mapping) mine.push_back(a), theirs.push_back(b);
        if (auto s = check_columns(tt.table, arel.name, mine); !s) return s.take_error();
        if (auto s = check_columns(schema->tables[*target].table, arel.name, theirs); !s)
          return s.take_error();
        r.mapping = arel.column_mapping;
      } else {
        auto target = index_of(*arel.fk_table);
        if (!target) return untracked(tt, arel.name, *arel.fk_table);
        const auto& remote = schema->tables[*target].table;
        if (auto s = check_columns(remote, arel.name, arel.fk_columns); !s) return s.take_error();
        const auto* fk = find_fk(remote, tt.table.name, arel.fk_columns);
        if (!fk)
          return meta_error(fmt::format(
              "relationship \"{}\" of table \"{}\": no foreign key "
              "constraint on {} ({}) referencing \"{}\"",
              arel.name, tname, remote.name.to_string(), fmt::join(arel.fk_columns, ", "), tname));
        r.target = *target;
        for (size_t i = 0; i < fk->columns.size(); ++i)
          r.mapping.emplace_back(fk->ref_columns[i], fk->columns[i]);
      }
      tt.relationships.push_back(std::move(r));
    }
    add_inherited_permissions(metadata.inherited_roles, tt);
    for (const auto& sp : tt.meta.select_permissions) {
      if (sp.role == "admin")
        return meta_error(
            fmt::format("table \"{}\": select permission for role \"admin\" is not "
                        "allowed",
                        tname));
      if (tt.permissions.count(sp.role))
        return meta_error(fmt::format("table \"{}\": duplicate select permission for role \"{}\"",
                                      tname, sp.role));
      Permission p;
      if (sp.all_columns) {
        for (const auto& c : tt.table.columns) p.columns.insert(c.name);
      } else {
        for (const auto& c : sp.columns) {
          const std::string* pg = tt.table.column(c) ? &c : tt.postgres_column(c);
          if (!pg)
            return meta_error(
                fmt::format("table \"{}\": select permission for role \"{}\": column "
                            "\"{}\" does not exist",
                            tname, sp.role, c));
          p.columns.insert(*pg);
        }
      }
      p.filter = sp.filter.is_null() ? boost::json::value(boost::json::object()) : sp.filter;
      p.limit = sp.limit;
      p.allow_aggregations = sp.allow_aggregations;
      for (const auto& cf : sp.computed_fields) {
        const ComputedField* def = tt.computed_field(cf);
        if (!def || def->returns)
          return meta_error(
              fmt::format("table \"{}\": select permission for role \"{}\": computed field "
                          "\"{}\" does not exist or does not return a scalar",
                          tname, sp.role, cf));
        p.computed_fields.insert(cf);
      }
      p.column_filters = sp.column_filters;
      tt.permissions.emplace(sp.role, std::move(p));
    }
    if (auto s = resolve_write_permissions(tt); !s) return s.take_error();
  }
  // Filters are checked once every relationship exists, since they may walk them.
  for (size_t i = 0; i < schema->tables.size(); ++i) {
    const TrackedTable& tt = schema->tables[i];
    auto check = [&](const char* kind, const std::string& role,
                     const boost::json::value& filter) -> Status {
      if (filter.is_null()) return Ok{};
      auto s = check_permission_filter(*schema, i, filter);
      if (s) return Ok{};
      Error e = s.take_error();
      e.message =
          fmt::format("inconsistent metadata: table \"{}\": {} permission for role \"{}\": {}",
                      tt.table.name.to_string(), kind, role, e.message);
      return e;
    };
    for (const auto& [role, perm] : tt.permissions)
      if (auto s = check("select", role, perm.filter); !s) return s.take_error();
    for (const auto& p : tt.meta.insert_permissions)
      if (auto s = check("insert", p.role, p.check); !s) return s.take_error();
    for (const auto& p : tt.meta.update_permissions) {
      if (auto s = check("update", p.role, p.filter); !s) return s.take_error();
      if (auto s = check("update", p.role, p.check); !s) return s.take_error();
    }
    for (const auto& p : tt.meta.delete_permissions)
      if (auto s = check("delete", p.role, p.filter); !s) return s.take_error();
  }
  // Every role named by a permission gets a type system, also one that may only write (Hasura
  // gives it a mutation_root); one with a backend_only permission gets a second, backend view.
  std::set<std::string> roles{"admin"}, backend;
  for (const auto& t : schema->tables) {
    for (const auto& [role, p] : t.permissions) roles.insert(role);
    auto add = [&](const std::string& role, bool backend_only) {
      roles.insert(role);
      if (backend_only) backend.insert(role);
    };
    for (const auto& p : t.meta.insert_permissions) add(p.role, p.backend_only);
    for (const auto& p : t.meta.update_permissions) add(p.role, p.backend_only);
    for (const auto& p : t.meta.delete_permissions) add(p.role, p.backend_only);
  }
  // Admin sees every root field. A function whose root field has the name of a table's (or of
  // an earlier function's) is left out and reported, as Hasura leaves out an inconsistent
  // object; two tables on one name are an error (below).
  RoleSchema admin;
  for (bool clash = true; clash;) {
    clash = false;
    admin = build_role_schema(*schema, "admin");
    for (const char* root : {"query_root", "mutation_root"}) {
      const TypeDef* t = admin.type(root);
      for (size_t i = 1; t && !clash && i < t->fields.size(); ++i) {
        const FieldDef& a = t->fields[i - 1];
        const FieldDef& b = t->fields[i];
        if (a.name != b.name || (!a.function_def && !b.function_def)) continue;
        // The later function goes (a table's field stays).
        const TrackedFunction* drop =
            a.function_def && (!b.function_def || a.function_def > b.function_def) ? a.function_def
                                                                                   : b.function_def;
        const FieldDef& kept = drop == a.function_def ? b : a;
        const std::string fn = drop->call.function.name.to_string();
        const std::string by =
            kept.function_def
                ? "function \"" + kept.function_def->call.function.name.to_string() + "\""
                : "table \"" + schema->tables[kept.table].table.name.to_string() + "\"";
        schema->inconsistent.push_back(
            {"function", "function " + fn,
             fmt::format("inconsistent metadata: in function \"{}\": the root field \"{}\" of "
                         "{} is already defined by {}",
                         fn, b.name, root, by)});
        schema->functions.erase(schema->functions.begin() + (drop - schema->functions.data()));
        clash = true;
      }
    }
  }
  // The last admin schema built is the one without a clash.
  schema->roles.emplace("admin", std::move(admin));
  for (const auto& role : roles)
    if (role != "admin") schema->roles.emplace(role, build_role_schema(*schema, role));
  // Two tables may not answer to one name (custom_root_fields).
  for (const char* root : {"query_root", "mutation_root"}) {
    const TypeDef* t = schema->roles.at("admin").type(root);
    if (!t) continue;
    for (size_t i = 1; i < t->fields.size(); ++i)
      if (t->fields[i].name == t->fields[i - 1].name) {
        std::string a = schema->tables[t->fields[i - 1].table].table.name.to_string();
        std::string b = schema->tables[t->fields[i].table].table.name.to_string();
        if (b < a) std::swap(a, b);
        return meta_error(
            fmt::format("the root field \"{}\" of {} is defined for tables \"{}\" and \"{}\"",
                        t->fields[i].name, root, a, b));
      }
  }
  for (const auto& role : backend)
    schema->backend_roles.emplace(role, build_role_schema(*schema, role, true));
  for (const auto& [role, rs] : schema->roles)
    schema->relay_roles.emplace(role, build_relay_role_schema(*schema, rs));
  for (auto* roles : {&schema->roles, &schema->backend_roles, &schema->relay_roles})
    for (auto& [role, rs] : *roles) customize_type_names(rs, schema->customization);
  return std::shared_ptr<const Schema>(std::move(schema));
}

std::vector<std::string> schema_roles(const Schema& schema) {
  std::vector<std::string> out;
  for (const auto& [role, rs] : schema.roles) out.push_back(role);
  return out;
}

std::optional<LiveMode> table_live_mode(const Schema& schema, const catalog::QualifiedName& table) {
  for (const auto& t : schema.tables)
    if (t.table.name == table) return t.meta.live_mode;
  return std::nullopt;
}

}  // namespace liveql::compiler

// Enum tables (metadata is_enum) as Hasura v2 has them: the statement that reads their rows, the
// checks that refuse a table of another shape (Hasura's reasons, word for word where it can),
// the columns that reference one, and the GraphQL enum and comparison types of those columns.
#include "liveql/compiler/enum_tables.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>

#include "liveql/compiler/sql.hpp"
#include "schema/role_builder.hpp"
#include "schema/schema.hpp"

namespace liveql::compiler {

namespace json = boost::json;

namespace {

bool is_text(const catalog::Column& c) {
  return !c.is_array && c.udt_name == "text" && c.type_schema == "pg_catalog";
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

std::string sorted_names(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  return fmt::format("{}", fmt::join(names, ", "));
}

// What Hasura checks before it reads an enum table: a primary key of one text column, and at
// most one other column, of type text (the comment). Every reason found, in Hasura's order.
struct EnumShape {
  const catalog::Column* key = nullptr;
  const catalog::Column* comment = nullptr;
  std::vector<std::string> reasons;
};

EnumShape enum_shape(const catalog::Table& t) {
  EnumShape s;
  auto mismatch = [](const char* what, const catalog::Column& c) {
    return fmt::format("the table’s {} (\"{}\") must have type \"text\", not type \"{}\"", what,
                       c.name, c.pg_type);
  };
  if (t.primary_key.empty()) {
    s.reasons.push_back("the table must have a primary key");
  } else if (t.primary_key.size() > 1) {
    s.reasons.push_back(fmt::format("the table’s primary key must not span multiple columns ({})",
                                    sorted_names(t.primary_key)));
  } else if (const catalog::Column* k = t.column(t.primary_key[0]); k && is_text(*k)) {
    s.key = k;
  } else if (k) {
    s.reasons.push_back(mismatch("primary key", *k));
  }
  // As Hasura: when the key is refused, every column counts as a non-key column.
  std::vector<const catalog::Column*> others;
  for (const auto& c : t.columns)
    if (&c != s.key) others.push_back(&c);
  if (others.size() == 1) {
    if (is_text(*others[0]))
      s.comment = others[0];
    else
      s.reasons.push_back(mismatch("comment column", *others[0]));
  } else if (others.size() > 1) {
    std::vector<std::string> names;
    for (const auto* c : others) names.push_back(c->name);
    s.reasons.push_back(fmt::format(
        "the table must have exactly one primary key and optionally one comment column, not {} "
        "columns ({})",
        others.size(), sorted_names(names)));
  }
  return s;
}

// The is_enum tables whose rows enum_values_query() reads, in metadata order.
std::vector<std::pair<const catalog::Table*, EnumShape>> readable_enum_tables(
    const catalog::Catalog& catalog, const metadata::Metadata& metadata) {
  std::vector<std::pair<const catalog::Table*, EnumShape>> out;
  for (const auto& tm : metadata.tables) {
    if (!tm.is_enum) continue;
    const catalog::Table* t = catalog.table(tm.table);
    if (!t) continue;
    EnumShape shape = enum_shape(*t);
    if (shape.key) out.emplace_back(t, std::move(shape));
  }
  return out;
}

// GraphQL's Name, minus the three words an enum value may not be.
bool valid_enum_value(const std::string& v) {
  if (v.empty() || v == "true" || v == "false" || v == "null") return false;
  auto letter = [](char c) { return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); };
  if (!letter(v[0])) return false;
  return std::all_of(v.begin(), v.end(),
                     [&](char c) { return letter(c) || (c >= '0' && c <= '9'); });
}

std::string invalid_values_reason(std::vector<std::string> bad) {
  std::sort(bad.begin(), bad.end());
  if (bad.size() == 1)
    return fmt::format("the value {} is not a valid GraphQL enum value name", quoted(bad[0]));
  std::vector<std::string> q;
  for (const auto& b : bad) q.push_back(quoted(b));
  std::string last = q.back();
  q.pop_back();
  if (q.size() == 1)
    return fmt::format("the values {} and {} are not valid GraphQL enum value names", q[0], last);
  return fmt::format("the values {}, and {} are not valid GraphQL enum value names",
                     fmt::join(q, ", "), last);
}

Error enum_error(const catalog::QualifiedName& table, const std::vector<std::string>& reasons) {
  std::string name = table.schema == "public" ? table.name : table.to_string();
  std::string why;
  if (reasons.size() == 1) {
    why = "because " + reasons[0];
  } else {
    why = "for the following reasons:\n";
    for (const auto& r : reasons) why += "  • " + r + "\n";
  }
  return make_error(
      ErrorCode::kConstraintViolation,
      fmt::format("inconsistent metadata: the table \"{}\" cannot be used as an enum {}", name,
                  why));
}

Error bad_rows(std::string message) {
  return make_error(ErrorCode::kUnexpected, "invalid enum table rows: " + std::move(message));
}

}  // namespace

std::string enum_values_query(const catalog::Catalog& catalog, const metadata::Metadata& metadata) {
  auto tables = readable_enum_tables(catalog, metadata);
  if (tables.empty()) return {};
  std::string parts;
  for (size_t i = 0; i < tables.size(); ++i) {
    const auto& [t, shape] = tables[i];
    if (i) parts += "\n  union all\n  ";
    parts += fmt::format(
        "select {} as i, (select coalesce(json_agg(json_build_array(r.{}, {})), '[]'::json) "
        "from {}.{} r) as v",
        i, sql::quote_identifier(shape.key->name),
        shape.comment ? "r." + sql::quote_identifier(shape.comment->name) : "null::text",
        sql::quote_identifier(t->name.schema), sql::quote_identifier(t->name.name));
  }
  return fmt::format("select json_agg(e.v order by e.i)::text from (\n  {}\n) e", parts);
}

Status add_enum_values(std::string_view json_text, const metadata::Metadata& metadata,
                       catalog::Catalog& catalog) {
  auto tables = readable_enum_tables(catalog, metadata);
  boost::system::error_code ec;
  json::value doc = json::parse(json_text, ec);
  if (ec) return bad_rows("not JSON: " + ec.message());
  if (!doc.is_array() || doc.get_array().size() != tables.size())
    return bad_rows(fmt::format("expected an array of {} tables", tables.size()));
  for (size_t i = 0; i < tables.size(); ++i) {
    const json::value& rows = doc.get_array()[i];
    if (!rows.is_array()) return bad_rows("expected an array of rows");
    std::vector<catalog::EnumValue> values;
    for (const auto& row : rows.get_array()) {
      const json::array* r = row.if_array();
      if (!r || r->size() != 2 || !(*r)[0].is_string() ||
          !((*r)[1].is_string() || (*r)[1].is_null()))
        return bad_rows("expected [value, comment] rows");
      catalog::EnumValue v{std::string((*r)[0].get_string()), std::nullopt};
      if ((*r)[1].is_string()) v.comment = std::string((*r)[1].get_string());
      values.push_back(std::move(v));
    }
    catalog.enum_values[tables[i].first->name] = std::move(values);
  }
  return Ok{};
}

Status resolve_enum_tables(Schema& schema, const catalog::Catalog& catalog) {
  for (auto& tt : schema.tables) {
    if (!tt.meta.is_enum) continue;
    EnumShape shape = enum_shape(tt.table);
    std::vector<std::string> reasons = shape.reasons;
    if (shape.key) {
      auto it = catalog.enum_values.find(tt.table.name);
      if (it == catalog.enum_values.end())
        return make_error(ErrorCode::kUnexpected,
                          fmt::format("the rows of the enum table \"{}\" were not read",
                                      tt.table.name.to_string()));
      if (it->second.empty()) reasons.push_back("the table must have at least one row");
      std::vector<std::string> bad;
      for (const auto& v : it->second)
        if (!valid_enum_value(v.value)) bad.push_back(v.value);
      if (!bad.empty()) reasons.push_back(invalid_values_reason(std::move(bad)));
      tt.enum_values = it->second;
      std::sort(tt.enum_values.begin(), tt.enum_values.end(),
                [](const catalog::EnumValue& a, const catalog::EnumValue& b) {
                  return a.value < b.value;
                });
    }
    if (!reasons.empty()) return enum_error(tt.table.name, reasons);
  }
  for (auto& tt : schema.tables) {
    std::map<std::string, std::vector<size_t>> refs;
    for (const auto& fk : tt.table.foreign_keys) {
      if (fk.columns.size() != 1) continue;
      for (size_t i = 0; i < schema.tables.size(); ++i) {
        const TrackedTable& target = schema.tables[i];
        if (!target.meta.is_enum || target.table.name != fk.ref_table) continue;
        if (target.table.primary_key != fk.ref_columns) continue;
        auto& list = refs[fk.columns[0]];
        if (std::find(list.begin(), list.end(), i) == list.end()) list.push_back(i);
      }
    }
    for (const auto& [column, targets] : refs) {
      if (targets.size() > 1) {
        std::vector<std::string> names;
        for (size_t i : targets) names.push_back(quoted(schema.tables[i].table.name.to_string()));
        return make_error(
            ErrorCode::kConstraintViolation,
            fmt::format("inconsistent metadata: column \"{}\" in table \"{}\" references multiple "
                        "enum tables ({})",
                        column, tt.table.name.to_string(), fmt::join(names, ", ")));
      }
      tt.enum_columns[column] = targets[0];
    }
  }
  return Ok{};
}

namespace detail {

std::string RoleBuilder::column_type(const TrackedTable& tt, const catalog::Column& c) {
  if (auto it = tt.enum_columns.find(c.name); it != tt.enum_columns.end())
    return enum_type(it->second);
  std::string scalar = scalar_for(c);
  add_scalar(scalar);
  return scalar;
}

// Visible to every role with a column of the type, also one that may not select the enum table.
std::string RoleBuilder::enum_type(size_t enum_table) {
  const TrackedTable& et = schema_.tables[enum_table];
  std::string name = et.gql_name + "_enum";
  if (rs_.types.count(name)) return name;
  TypeDef t{TypeKind::kEnum, name};
  for (const auto& v : et.enum_values) {
    t.enum_values.push_back(v.value);
    t.enum_descriptions.push_back(v.comment.value_or(""));
  }
  rs_.types.emplace(name, std::move(t));
  return name;
}

std::string RoleBuilder::enum_comparison_type(const std::string& enum_name) {
  std::string name = enum_name + "_comparison_exp";
  if (rs_.types.count(name)) return name;
  TypeDef t = comparison_exp(enum_name);
  gql::TypeRef e = named_type(enum_name);
  t.input_fields.push_back(input("_eq", e));
  t.input_fields.push_back(input("_in", list_of(non_null(e))));
  t.input_fields.push_back(input("_is_null", named_type("Boolean")));
  t.input_fields.push_back(input("_neq", e));
  t.input_fields.push_back(input("_nin", list_of(non_null(e))));
  rs_.types.emplace(name, std::move(t));
  return name;
}

}  // namespace detail

}  // namespace liveql::compiler

// The Postgres catalog as liveql needs it: tables, columns and their types, primary keys,
// foreign keys, unique constraints, enums, and what a view accepts. Loaded by the server with
// catalog_query() (one statement returning one JSON document), then parsed here; this module does
// no I/O.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "liveql/base/result.hpp"

namespace liveql::catalog {

struct QualifiedName {
  std::string schema = "public";
  std::string name;
  bool operator==(const QualifiedName&) const = default;
  auto operator<=>(const QualifiedName&) const = default;
  std::string to_string() const { return schema + "." + name; }
};

struct Column {
  std::string name;
  std::string pg_type;   // type name as format_type() without modifiers: "integer", "text",
                         // "timestamp with time zone", "uuid", "numeric", "jsonb", "integer[]"
  std::string udt_name;  // pg_type.typname: "int4", "text", "timestamptz", "_int4", enum name
  std::string type_schema = "pg_catalog";
  bool is_array = false;
  bool nullable = true;
  bool has_default = false;
  std::vector<std::string> enum_values;  // non-empty when the type is an enum
  std::string comment;
  // GENERATED ALWAYS AS IDENTITY, or a generated column: a request can neither insert nor update
  // it (Hasura leaves it out of the insert and update input types).
  bool generated_always = false;
};

// A primary key or unique constraint, by the name INSERT ... ON CONFLICT ON CONSTRAINT takes.
struct UniqueConstraint {
  std::string name;
  std::vector<std::string> columns;  // in key order
  bool primary_key = false;
};

struct ForeignKey {
  std::string name;
  std::vector<std::string> columns;  // on this table
  QualifiedName ref_table;
  std::vector<std::string> ref_columns;
};

struct Table {
  QualifiedName name;
  std::vector<Column> columns;  // in attnum order
  std::vector<std::string> primary_key;
  std::vector<ForeignKey> foreign_keys;
  std::vector<UniqueConstraint> unique_constraints;  // the primary key first, then by name
  char replica_identity = 'd';  // 'd' default, 'f' full, 'n' nothing, 'i' index
  bool is_view = false;
  // What the relation accepts (pg_relation_is_updatable): all three for tables, what an
  // auto-updatable view or its INSTEAD OF triggers allow for views, none for materialized views.
  bool insertable = true;
  bool updatable = true;
  bool deletable = true;
  std::string comment;
  const Column* column(std::string_view name) const {
    for (const auto& c : columns)
      if (c.name == name) return &c;
    return nullptr;
  }
};

// One row of an enum table (metadata is_enum): its primary key and its comment column.
struct EnumValue {
  std::string value;
  std::optional<std::string> comment;  // null comment, or no comment column
  bool operator==(const EnumValue&) const = default;
};

// A SQL function outside pg_catalog and the extensions' own (what metadata may track, or use as
// a computed field). Arguments are the input ones, in order; named "" when unnamed.
struct Function {
  struct Argument {
    std::string name;
    Column type;  // name, pg_type, udt_name, type_schema, is_array as for a column
    bool has_default = false;
  };
  QualifiedName name;
  std::vector<Argument> arguments;
  char volatility = 'v';  // 'i' immutable, 's' stable, 'v' volatile
  bool returns_set = false;
  Column return_type;  // pg_type, udt_name, type_schema of the return type
  // The return type's kind: 'c' a composite (a table's row type), 'b' base, 'e' enum, 'd'
  // domain, 'p' pseudo (record, void, ...).
  char return_kind = 'b';
  bool has_out_arguments = false;  // OUT, INOUT or TABLE arguments
  bool variadic = false;
  size_t overloads = 1;  // functions of this schema and name
  std::string comment;
};

struct Catalog {
  std::vector<Table> tables;
  std::vector<Function> functions;
  const Function* function(const QualifiedName& name) const {
    for (const auto& f : functions)
      if (f.name == name) return &f;
    return nullptr;
  }
  // The rows of the enum tables, in value order, read by compiler::enum_values_query()
  // (enum_tables.hpp) after the catalog; absent for a table not read.
  std::map<QualifiedName, std::vector<EnumValue>> enum_values;
  const Table* table(const QualifiedName& name) const {
    for (const auto& t : tables)
      if (t.name == name) return &t;
    return nullptr;
  }
};

// One SQL statement, no parameters, returning one row with one json column describing every
// table and view outside pg_catalog/information_schema, then every function there that no
// extension owns (entries with kind "function").
std::string_view catalog_query();

// Parses the JSON text that catalog_query() returned.
Result<Catalog> parse_catalog(std::string_view json_text);

}  // namespace liveql::catalog

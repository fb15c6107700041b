// Hasura v2 metadata, as liveql reads it: tracked tables, relationships, select, insert, update
// and delete permissions, custom root field names, and liveql's own per-table `live_mode`. Parsed
// from YAML/JSON text; reading the directory is the caller's business (load_metadata_path in
// server/ does it) so this stays pure.
#pragma once

#include <boost/json/value.hpp>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "liveql/base/live_mode.hpp"
#include "liveql/base/result.hpp"
#include "liveql/compiler/catalog.hpp"

namespace liveql::metadata {

struct ObjectRelationship {
  std::string name;
  // using.foreign_key_constraint_on: column(s) of this table referencing the remote table; or,
  // with fk_table set ({table, column|columns}), column(s) of fk_table referencing this table.
  std::vector<std::string> fk_columns;
  std::optional<catalog::QualifiedName> fk_table;
  // using.manual_configuration
  std::optional<catalog::QualifiedName> remote_table;
  std::vector<std::pair<std::string, std::string>> column_mapping;  // this col -> remote col
  // manual_configuration.insertion_order "after_parent": a nested insert writes this row after
  // its parent, taking the mapped columns from it ("before_parent", the default: before).
  bool insert_after_parent = false;
};

struct ArrayRelationship {
  std::string name;
  // using.foreign_key_constraint_on: {table, column|columns} on the remote side.
  std::optional<catalog::QualifiedName> fk_table;
  std::vector<std::string> fk_columns;
  // using.manual_configuration
  std::optional<catalog::QualifiedName> remote_table;
  std::vector<std::pair<std::string, std::string>> column_mapping;  // this col -> remote col
};

struct SelectPermission {
  std::string role;
  bool all_columns = false;  // columns: "*"
  std::vector<std::string> columns;
  boost::json::value filter;  // a bool_exp, may reference X-Hasura-* session variables
  std::optional<int64_t> limit;
  bool allow_aggregations = false;
  std::vector<std::string> computed_fields;  // computed fields the role may select
  // Set for a permission an inherited role derives from its parents (inherited_roles.hpp): a
  // column listed here shows its value only in rows where its bool_exp holds (a parent that
  // allows both the row and the column), NULL elsewhere. Keys are Postgres column names.
  std::map<std::string, boost::json::value> column_filters;
};

// A `set` preset of an insert or update permission: the column always gets this value, whatever
// the request says. A string starting with "x-hasura-" (any case) names a session variable
// (stored lower-cased in session_variable, value then null); anything else is a literal.
struct ColumnPreset {
  std::string column;
  boost::json::value value;
  std::optional<std::string> session_variable;
};

struct InsertPermission {
  std::string role;
  boost::json::value check;  // a bool_exp on the inserted row; {} when absent
  bool all_columns = false;  // columns: "*", or no `columns` key (Hasura's default for insert)
  std::vector<std::string> columns;
  std::vector<ColumnPreset> set;
  bool backend_only = false;
};

struct UpdatePermission {
  std::string role;
  bool all_columns = false;  // columns: "*"
  std::vector<std::string> columns;
  boost::json::value filter;  // a bool_exp on the row before the update; {} when absent
  boost::json::value check;   // a bool_exp on the row after the update; {} when absent
  std::vector<ColumnPreset> set;
  bool backend_only = false;
};

struct DeletePermission {
  std::string role;
  boost::json::value filter;  // {} when absent
  bool backend_only = false;
};

// configuration.custom_root_fields: the GraphQL name of each root field, when renamed. Hasura
// accepts a name or {name, comment}; only the name is kept.
struct CustomRootFields {
  std::optional<std::string> select;
  std::optional<std::string> select_by_pk;
  std::optional<std::string> select_aggregate;
  std::optional<std::string> select_stream;
  std::optional<std::string> insert;
  std::optional<std::string> insert_one;
  std::optional<std::string> update;
  std::optional<std::string> update_by_pk;
  std::optional<std::string> update_many;
  std::optional<std::string> delete_;  // "delete"
  std::optional<std::string> delete_by_pk;
};

struct TableMetadata {
  catalog::QualifiedName table;
  std::optional<std::string> custom_name;  // configuration.custom_name
  std::map<std::string, std::string> custom_column_names;
  CustomRootFields custom_root_fields;
  std::vector<ObjectRelationship> object_relationships;
  std::vector<ArrayRelationship> array_relationships;
  std::vector<SelectPermission> select_permissions;
  std::vector<InsertPermission> insert_permissions;
  std::vector<UpdatePermission> update_permissions;
  std::vector<DeletePermission> delete_permissions;
  std::optional<LiveMode> live_mode;  // `live_mode`; nullopt: the server's default
  // is_enum: the table's rows are the values of a GraphQL enum, the type of every column that
  // references the table (enum_tables.hpp).
  bool is_enum = false;
  // computed_fields: fields backed by a SQL function taking the row (functions.hpp).
  struct ComputedField {
    std::string name;
    catalog::QualifiedName function;
    std::optional<std::string> table_argument;    // default: the function's first argument
    std::optional<std::string> session_argument;  // a json argument given the session
    std::string comment;
  };
  std::vector<ComputedField> computed_fields;
};

// sources[].functions[]: a tracked SQL function, a root field returning rows of a tracked table.
struct FunctionMetadata {
  enum class ExposedAs { kDefault, kQuery, kMutation };  // default: by volatility
  catalog::QualifiedName function;
  std::optional<std::string> custom_name;                // configuration.custom_name
  std::optional<std::string> custom_function;            // custom_root_fields.function
  std::optional<std::string> custom_function_aggregate;  // custom_root_fields.function_aggregate
  std::optional<std::string> session_argument;
  ExposedAs exposed_as = ExposedAs::kDefault;
  std::vector<std::string> permissions;  // roles of permissions[]
  std::string comment;
};

// inherited_roles: a role whose permissions combine those of role_set (which may be inherited
// roles too) wherever it has none of its own; see inherited_roles.hpp for how.
struct InheritedRole {
  std::string role_name;
  std::vector<std::string> role_set;
};

// The source's `customization`: the root fields under one namespace field and/or renamed with
// a prefix and suffix, and the source's type names with a prefix and suffix, as Hasura does.
struct SourceCustomization {
  std::optional<std::string> root_namespace;  // root_fields.namespace
  std::string root_prefix, root_suffix;       // root_fields.prefix / suffix
  std::string type_prefix, type_suffix;       // type_names.prefix / suffix
  bool empty() const {
    return !root_namespace && root_prefix.empty() && root_suffix.empty() && type_prefix.empty() &&
           type_suffix.empty() && type_mapping.empty();
  }
  // type_names.mapping: a type's new name, used instead of prefix + name + suffix.
  std::map<std::string, std::string> type_mapping;
};

struct Metadata {
  std::vector<TableMetadata> tables;
  std::vector<FunctionMetadata> functions;
  std::vector<InheritedRole> inherited_roles;
  SourceCustomization customization;
};

// Parses one document holding the whole metadata: either Hasura's export
// ({"version":3,"sources":[{"name":"default","tables":[...]}]}), a v2 export ({"tables":[...]}),
// or a bare list of table entries. Only the first postgres source is read.
Result<Metadata> parse_metadata(std::string_view yaml_or_json);

// Parses one table entry (one tables/<schema>_<table>.yaml file). Errors have code kParseFailed
// and a path such as "$.select_permissions[0].permission.columns".
Result<TableMetadata> parse_table(std::string_view yaml_or_json);

}  // namespace liveql::metadata

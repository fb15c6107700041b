// The built schema (internal to the compiler): tracked tables resolved against the catalog, and
// one GraphQL type system per role, with each field tagged by what it means for IR building.
// Immutable after build_schema(); pointers between its parts stay valid for its lifetime.
#pragma once

#include <boost/json/value.hpp>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "liveql/compiler/ast.hpp"
#include "liveql/compiler/catalog.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/metadata.hpp"

namespace liveql::compiler {

struct Relationship {
  std::string name;
  bool is_array = false;
  size_t target = 0;                                         // index into Schema::tables
  std::vector<std::pair<std::string, std::string>> mapping;  // this col -> target col
};

struct Permission {
  std::set<std::string> columns;  // Postgres column names
  boost::json::value filter;      // bool_exp over Postgres/GraphQL names, may use session vars
  std::optional<int64_t> limit;
  bool allow_aggregations = false;
  std::set<std::string> computed_fields;  // scalar computed fields the role may select
  // Inherited roles: Postgres column -> bool_exp; the column is NULL in rows where it fails.
  std::map<std::string, boost::json::value> column_filters;
};

// How a SQL function is called from GraphQL (functions.cpp): which of its arguments the request
// gives through `args: <fn>_args`, which one receives the session (a json object of the session
// variables and x-hasura-role), and which one the row (computed fields).
struct FunctionCallShape {
  catalog::Function function;
  struct Input {
    std::string gql_name;  // the argument's name, or arg_<n> for the n-th unnamed one
    size_t position = 0;   // in function.arguments
    std::string scalar;    // its GraphQL type: the column scalar, or <type>_scalar (a row type)
  };
  std::vector<Input> inputs;
  std::optional<size_t> session_argument;  // position
  std::optional<size_t> table_argument;    // position (computed fields)
  std::string args_type;                   // <fn>_args; empty when there are no inputs
  bool args_required = false;              // some input has no default: args: <fn>_args!
};

// A tracked function: root fields <name>(args, where, ...) and <name>_aggregate over the rows
// of its return table.
struct TrackedFunction {
  metadata::FunctionMetadata meta;
  FunctionCallShape call;
  size_t table = 0;  // index into Schema::tables: the return table
  std::string gql_name;
  std::string aggregate_name;
  bool mutation = false;  // on mutation_root (VOLATILE unless exposed_as: query)
};

// A computed field of a table: a scalar (`returns` empty) or the rows of a tracked table.
struct ComputedField {
  std::string name;
  std::string comment;
  FunctionCallShape call;
  std::optional<size_t> returns;  // index into Schema::tables
  catalog::Column scalar;         // the scalar's type (pg_type, udt_name, type_schema)
};

struct TrackedTable {
  catalog::Table table;
  metadata::TableMetadata meta;
  std::string gql_name;
  std::vector<std::pair<std::string, std::string>> column_names;  // graphql -> column, in order
  std::vector<Relationship> relationships;
  std::map<std::string, Permission> permissions;  // by role
  // An enum table (meta.is_enum): its rows, the values of the GraphQL enum <gql_name>_enum.
  std::vector<catalog::EnumValue> enum_values;
  // Columns with a one-column foreign key to an enum table's key -> that table's index: their
  // GraphQL type is the enum (enum_tables.cpp).
  std::map<std::string, size_t> enum_columns;
  std::vector<ComputedField> computed_fields;
  const ComputedField* computed_field(const std::string& name) const;
  const std::string* graphql_column(const std::string& column) const;
  const std::string* postgres_column(const std::string& graphql) const;
  const Relationship* relationship(const std::string& name) const;
};

enum class TypeKind { kScalar, kObject, kInterface, kUnion, kEnum, kInputObject };

// The meaning of an output field, for IR building.
enum class FieldRole {
  kNone,       // introspection types' fields
  kColumn,     // column
  kObjectRel,  // relationship
  kArrayRel,   // relationship
  kArrayRelAggregate,
  kSelect,           // root <t>
  kSelectByPk,       // root <t>_by_pk
  kSelectAggregate,  // root <t>_aggregate
  kAggregate,        // <t>_aggregate.aggregate
  kNodes,            // <t>_aggregate.nodes
  kCount,            // <t>_aggregate_fields.count
  kAggFunction,      // <t>_aggregate_fields.<function>: function
  kAggColumn,        // <t>_<fn>_fields.<col>: column
  kPlaceholder,      // query_root.no_queries_available, when the role has no query field
  kSchema,           // __schema
  kType,             // __type
  // mutation_root (FieldDef::table: the table written)
  kInsert,        // insert_<t>(objects, on_conflict): <t>_mutation_response
  kInsertOne,     // insert_<t>_one(object, on_conflict): <t>
  kUpdate,        // update_<t>(where, _set, _inc, _append, ...): <t>_mutation_response
  kUpdateByPk,    // update_<t>_by_pk(pk_columns, _set, ...): <t>
  kUpdateMany,    // update_<t>_many(updates: [<t>_updates!]!): [<t>_mutation_response]
  kDelete,        // delete_<t>(where): <t>_mutation_response
  kDeleteByPk,    // delete_<t>_by_pk(<pk columns>): <t>
  kAffectedRows,  // <t>_mutation_response.affected_rows
  kReturning,     // <t>_mutation_response.returning: [<t>!]!
  // Relay (relay.cpp; FieldDef::table: the rows' table)
  kNode,                // query_root.node(id: ID!): Node
  kNodeId,              // <t>.id: ID!, the global id
  kSelectConnection,    // root <t>_connection
  kArrayRelConnection,  // <rel>_connection (FieldDef::rel)
  // tracked functions and computed fields (FieldDef::function_def / computed)
  kFunction,           // <fn>(args, where, ...): [<t>!]!, or <t> for a single-row function
  kFunctionAggregate,  // <fn>_aggregate(args, where, ...): <t>_aggregate!
  kComputedScalar,     // <cf>(args): scalar
  kComputedTable,      // <cf>(args, where, ...): [<t>!]!
  kNamespace,          // the source's root field namespace (customization): its type's fields are
                       // root fields
  // Relay: <fn>_connection(args, first, after, ...) (FieldDef::function_def)
  kFunctionConnection,
  kSelectStream,  // subscription_root <t>_stream(batch_size, cursor, where): [<t>!]!
};

// The meaning of an input object type, for reading arguments.
enum class InputRole {
  kNone,
  kBoolExp,
  kComparison,
  kOrderBy,
  kInsertInput,     // <t>_insert_input (TypeDef::table)
  kObjRelInsert,    // <t>_obj_rel_insert_input {data, on_conflict}
  kArrRelInsert,    // <t>_arr_rel_insert_input {data, on_conflict}
  kOnConflict,      // <t>_on_conflict {constraint, update_columns, where}
  kUpdateOperator,  // <t>_set_input, <t>_inc_input, <t>_append_input, ... (one per operator)
  kPkColumns,       // <t>_pk_columns_input
  kUpdates,         // <t>_updates {where, _set, _inc, ...}
};

struct InputValueDef {
  std::string name;
  gql::TypeRef type;
  std::optional<std::string> default_value;  // GraphQL literal text
  std::string description;
  // Values Hasura's parsers read beyond the GraphQL type: a column value (comparison operand,
  // inserted or set value, primary key) also takes a string for Int, Float and Boolean, which
  // PostgreSQL casts; `offset` takes a 64-bit integer, also written as a string of digits.
  enum class Parsing { kStrict, kColumnValue, kBigInt };
  Parsing parsing = Parsing::kStrict;
};

struct FieldDef {
  std::string name;
  std::vector<InputValueDef> args;
  gql::TypeRef type;
  std::string description;
  FieldRole role = FieldRole::kNone;
  std::string column;                 // kColumn, kAggColumn
  size_t table = 0;                   // index into Schema::tables: the rows this field yields
  const Relationship* rel = nullptr;  // kObjectRel, kArrayRel, kArrayRelAggregate
  std::string function;               // kAggFunction
  const TrackedFunction* function_def = nullptr;  // kFunction, kFunctionAggregate
  const ComputedField* computed = nullptr;        // kComputedScalar, kComputedTable
  const InputValueDef* arg(const std::string& n) const;
};

struct TypeDef {
  TypeKind kind = TypeKind::kScalar;
  std::string name;
  std::string description;
  std::vector<FieldDef> fields;             // object
  std::vector<InputValueDef> input_fields;  // input object
  std::vector<std::string> enum_values;     // enum
  std::vector<std::string> enum_descriptions;
  InputRole input_role = InputRole::kNone;
  size_t table = 0;    // kBoolExp, kOrderBy
  std::string scalar;  // kComparison: the scalar compared
  const FieldDef* field(const std::string& n) const;
  const InputValueDef* input_field(const std::string& n) const;
  std::vector<std::string> interfaces;      // object: the interfaces it implements (Relay's Node)
  std::vector<std::string> possible_types;  // interface: the objects implementing it
};

// What one role may see and write of one table. The mutation parts are null/empty when the role
// may not do that (admin: every column, no filter, no check, no preset).
struct RoleTable {
  size_t table = 0;
  // Whether the role may select from the table (admin, or a select permission). A role that may
  // only write a table has a RoleTable too, with selectable false and no columns: it has no <t>
  // type, no query fields, and relationships and filters do not reach the table.
  bool selectable = false;
  std::vector<std::string> columns;        // visible Postgres columns, in table order
  const Permission* permission = nullptr;  // select; null for admin (and when !selectable)
  bool aggregations = false;
  bool by_pk = false;  // primary key exists and each of its columns is visible
  bool sees(const std::string& column) const;

  // Mutations. For admin, insert/update/del are all set (to metadata-less permissions owned by
  // the schema) and every column is writable. Columns with a `set` preset are not writable
  // (Hasura drops them from the input types); presets are applied by the compiler.
  // Permission column names (columns, set[].column) are Postgres names once the schema is built.
  // Null as well where the relation does not accept the statement (a view that is not
  // insertable, ...), and, in Schema::roles, for backend_only permissions.
  // GENERATED ALWAYS columns are in neither column list.
  const metadata::InsertPermission* insert = nullptr;
  const metadata::UpdatePermission* update = nullptr;
  const metadata::DeletePermission* del = nullptr;
  std::vector<std::string> insert_columns;  // Postgres columns the request may set on insert
  std::vector<std::string> update_columns;  // Postgres columns the request may set on update
};

struct RoleSchema {
  std::string role;
  std::map<std::string, TypeDef> types;
  std::map<size_t, RoleTable> tables;  // by table index; absent = invisible
  const TypeDef* type(const std::string& n) const;
  const RoleTable* table(size_t index) const;
  // Source customization of type names (type_names.hpp): the name each renamed type was built
  // under -> its name in `types`. type() falls back to it for a name not in `types`.
  std::map<std::string, std::string> renamed_types;
};

}  // namespace liveql::compiler

namespace liveql::compiler {

class Schema {
 public:
  std::vector<TrackedTable> tables;
  std::map<std::string, RoleSchema> roles;  // "admin" included
  // Roles with a backend_only insert/update/delete permission, as seen by a request with
  // x-hasura-use-backend-only-permissions: true (and the admin secret): their type system with
  // those mutations. roles[] holds the frontend view, without them (Hasura's behaviour).
  std::map<std::string, RoleSchema> backend_roles;
  SchemaOptions options;
  std::vector<TrackedFunction> functions;
  metadata::SourceCustomization customization;  // applied to every role schema
  // backend: Session::backend_only. Falls back to roles[] when the role has no backend view.
  const RoleSchema* role(const std::string& name, bool backend = false) const;
  // The Relay schema (/v1beta1/relay) of each role of roles[] (relay.cpp).
  std::map<std::string, RoleSchema> relay_roles;
  // Metadata objects left out (resolve_functions), for inconsistent_objects().
  std::vector<InconsistentObject> inconsistent;
};

// Hasura's GraphQL scalar name for a column type.
std::string scalar_for(const catalog::Column& column);
// Postgres type usable in a cast for values compared with this column.
std::string cast_type(const catalog::Column& column);

gql::TypeRef named_type(const std::string& name);
gql::TypeRef non_null(gql::TypeRef of);
gql::TypeRef list_of(gql::TypeRef of);
std::string type_to_string(const gql::TypeRef& t);
const std::string& base_name(const gql::TypeRef& t);

// Builds one role's type system (schema_types.cpp, schema_mutation_types.cpp). backend: include
// the role's backend_only insert/update/delete permissions (Schema::backend_roles).
RoleSchema build_role_schema(const Schema& schema, const std::string& role, bool backend = false);

// Relay (relay.cpp): the role's Relay type system, built from its ordinary one: the Node
// interface, <t>_connection root fields and node(id), <rel>_connection fields, and `id` the
// global id on every table with a primary key.
RoleSchema build_relay_role_schema(const Schema& schema, const RoleSchema& ordinary);

// Introspection (introspection.cpp): adds the __ types to a role's type system.
void add_introspection_types(RoleSchema& rs);

// Enum tables (enum_tables.cpp): checks each is_enum table's shape and rows (Hasura's
// constraint-violation reasons), takes its rows from catalog.enum_values, and marks the columns
// that reference one. Runs once the tracked tables exist, before relationships.
Status resolve_enum_tables(Schema& schema, const catalog::Catalog& catalog);

// Tracked functions and computed fields (functions.cpp): checks each against the catalog
// (Hasura's inconsistent-metadata reasons) and fills Schema::functions and each table's
// computed_fields; one that fails is left out and listed in Schema::inconsistent. A function's
// permissions extend to the inherited roles one of whose parents has one. Runs once the tracked
// tables exist, before permissions are resolved.
Status resolve_functions(Schema& schema, const catalog::Catalog& catalog,
                         const metadata::Metadata& metadata);

}  // namespace liveql::compiler

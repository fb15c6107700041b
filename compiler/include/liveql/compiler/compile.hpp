// The compiler's front door: GraphQL text + variables + session -> a compiled operation with
// its IR, SQL and the request's vars. Pure and thread-safe over an immutable Schema.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "liveql/base/result.hpp"
#include "liveql/compiler/ast.hpp"
#include "liveql/compiler/catalog.hpp"
#include "liveql/compiler/ir.hpp"
#include "liveql/compiler/ir_mutation.hpp"
#include "liveql/compiler/metadata.hpp"
#include "liveql/compiler/parser.hpp"

namespace liveql::compiler {

class Schema;  // the GraphQL schema for every role; immutable once built

// Process-wide choices that shape every answer the schema compiles.
struct SchemaOptions {
  // HASURA_GRAPHQL_STRINGIFY_NUMERIC_TYPES: columns of the types Hasura stringifies (bigint,
  // numeric, double precision, money; scalars, not arrays) come out as JSON strings wherever a
  // selection reads them: queries, subscriptions, mutation `returning`, and aggregate functions
  // over them (sum, min, ...; count stays a number). Decided when compiling, so it costs nothing
  // per row when off.
  bool stringify_numeric_types = false;
  // HASURA_GRAPHQL_INFER_FUNCTION_PERMISSIONS: a role sees a tracked function when it may select
  // from the function's return table. When false, only the roles of the function's
  // `permissions` (and admin) see it.
  bool infer_function_permissions = true;
};

// Builds the schema from the catalog and metadata. Errors: metadata that names missing tables
// or columns, relationships without a matching foreign key, bad permission filters.
Result<std::shared_ptr<const Schema>> build_schema(const catalog::Catalog& catalog,
                                                   const metadata::Metadata& metadata,
                                                   const SchemaOptions& options = {});

// The roles named in select permissions (plus "admin").
std::vector<std::string> schema_roles(const Schema& schema);

// The live mode a table's metadata asks for; nullopt when it does not say.
std::optional<LiveMode> table_live_mode(const Schema& schema, const catalog::QualifiedName& table);

struct Session {
  std::string role = "admin";
  bool is_admin = true;                          // admin sees every table and column, no filters
  std::map<std::string, std::string> variables;  // keys lower-cased, "x-hasura-user-id"
  // x-hasura-use-backend-only-permissions: true on a request with the admin secret: the role's
  // backend_only insert/update/delete permissions apply (Schema::backend_roles).
  bool backend_only = false;
};

struct Request {
  std::string_view query;
  boost::json::object variables;
  std::optional<std::string> operation_name;
  // Compiled against the role's Relay schema (/v1beta1/relay) instead of its ordinary one.
  bool relay = false;
};

// Operation limits, checked after parsing and before any field is collected or any SQL is
// built, in time linear in the document (fragments are measured once, never expanded). Counts
// are taken after fragment expansion and before field merging: a fragment spread ten times
// counts ten times. Errors: kValidationFailed, path "$", a message naming the limit, its value
// and the flag that sets it, e.g. "the operation selects 1000000 fields, more than the limit of
// 10000 (--max-fields)". docs/RELIABILITY.md gives what a request costs at the defaults.
struct Limits {
  gql::ParseLimits parse;
  // Fields nested in fields, after fragment expansion (`{ a { b } }` is 2). Values above 200 act
  // as 200: IR building and SQL generation recurse once per level.
  size_t max_query_depth = 32;
  size_t max_fields = 10'000;    // total selected fields after fragment expansion
  size_t max_aliases = 100;      // aliased fields in one selection set
  size_t max_root_fields = 100;  // root fields of one operation
  // Tables and relationships selected (root table fields, object and array relationships,
  // aggregates): each is a subquery that PostgreSQL plans and runs, and planning memory grows
  // with their number, so this bounds the cost of the statement.
  size_t max_relations = 200;
};

// One root field of a mutation: a write, or a static answer (__typename).
struct MutationRoot {
  std::string alias;  // the response key
  std::optional<ir::MutationField> write;
  boost::json::value static_value;  // when there is no write
  // Where an error of the write's statements is reported: Hasura's path of the rows argument
  // for inserts ("$.selectionSet.<alias>.args.objects" / ".object"), "$" otherwise.
  std::string error_path = "$";
  // Set under a source's root field namespace (customization): the response key of the
  // namespace field, whose object holds this field under `alias`.
  std::string namespace_alias;
};

// Where some of a compiled operation's vars came from, for /v1/graphql/explain's cohort
// variables (Hasura's `synthetic` and `session`): the keys of values lifted from the operation's
// text and variables (comparison operands of `where`, in compile order), and the keys holding a
// session variable's value (a permission filter's), with the variable's lower-cased name. Keys
// of other values (limits, offsets, permission literals, static answers) are in neither.
struct ParamOrigins {
  std::vector<std::string> query;
  std::map<std::string, std::string> session;  // vars key -> "x-hasura-user-id"
};

struct CompiledOperation {
  gql::OperationType type = gql::OperationType::kQuery;
  ir::Operation ir;  // queries and subscriptions
  // Mutations: the root fields in request order (ir is then empty), written in order in one
  // transaction. static_data is set as for queries when no field writes.
  std::vector<MutationRoot> mutations;
  boost::json::object vars;  // the $1 / per-subscriber vars object
  // Set when no SQL is needed (only __typename / introspection): the whole `data` object.
  std::optional<boost::json::object> static_data;
  std::string root_field_name;  // name (not alias) of the first root field, for operator views
  ParamOrigins origins;
};

// Parses, validates (errors in Hasura's shape and wording: code kValidationFailed with a
// path like "$.selectionSet.orders.selectionSet.bogus"), applies the session role's
// permissions, and builds the IR. A mutation is rejected with kValidationFailed "no mutations
// exist" when the role has no mutation_root; a permission's preset or filter naming a session
// variable the session lacks is kNotFound "missing session variable: \"x-hasura-...\"".
// The role's view is Schema::role(role, session.backend_only).
Result<CompiledOperation> compile(const Schema& schema, const Request& request,
                                  const Session& session, const Limits& limits = {});

// A metadata object the schema left out, as Hasura leaves out an inconsistent object at startup
// and serves the rest: a tracked function (overloaded, not returning a tracked table, exposed as
// a mutation but not VOLATILE, a bad session argument, ...) or a computed field.
struct InconsistentObject {
  std::string type;    // "function", "computed_field"
  std::string name;    // "function public.search_posts", "computed field x of table public.t"
  std::string reason;  // Hasura's wording
};
const std::vector<InconsistentObject>& inconsistent_objects(const Schema& schema);

}  // namespace liveql::compiler

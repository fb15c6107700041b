// The stages of compile(), private to compiler/src/schema. One OperationCompiler walks one
// request: the operation and its variables (compile_operation.cpp), input coercion of literals
// and variable values (compile_input.cpp), selection collection with fragment flattening,
// @skip/@include and field merging (compile_selection.cpp), IR building with permissions
// applied (compile_ir.cpp), mutation root fields with write permissions applied
// (compile_mutation.cpp), and introspection answers (compile_introspection.cpp). The stages
// interleave in one walk over the selection (as Hasura's parsers do): each step knows the type it
// is in, so errors carry Hasura's path. compile.cpp holds the front door and the walk's order.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "liveql/base/result.hpp"
#include "liveql/compiler/ast.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/ir.hpp"
#include "liveql/compiler/ir_mutation.hpp"
#include "schema/bool_exp.hpp"
#include "schema/executable_rules.hpp"
#include "schema/schema.hpp"

namespace liveql::compiler::detail {

inline Error invalid(std::string message, std::string path = "$") {
  return make_error(ErrorCode::kValidationFailed, std::move(message), std::move(path));
}

// Evaluates `expr` (a Result); on error returns it, otherwise binds `var` to its value.
#define LQ_TRY(var, expr)                    \
  auto var##_r = (expr);                     \
  if (!var##_r) return var##_r.take_error(); \
  auto& var = *var##_r

// A field after fragment flattening, @skip/@include and merging of equal response keys.
struct Collected {
  std::string key;
  const gql::Field* field = nullptr;
  std::vector<const gql::SelectionSet*> sets;
  std::string path;
};

// Compiles one request over one role's schema. Single use: construct, run() once.
class OperationCompiler {
 public:
  OperationCompiler(const Schema& schema, const RoleSchema& rs, const Request& req,
                    const Session& session, const Limits& limits);

  Result<CompiledOperation> run();  // compile.cpp

 private:
  Result<CompiledOperation> run_mutation();  // compile.cpp: the walk over mutation_root

 private:
  struct VarInfo {
    const gql::VariableDefinition* def = nullptr;
    std::optional<boost::json::value> value;  // nullopt: not provided and no default
  };

  // ---- operation, fragments, variables (compile_operation.cpp) ----
  Status select_operation();
  bool is_input_type(const gql::TypeRef& t);
  Status coerce_variables();
  // Nesting of arrays and objects (a scalar is 0 deep); stops looking past `limit`.
  static size_t json_depth(const boost::json::value& v, size_t limit);

  // ---- input coercion (compile_input.cpp) ----
  static bool nullable(const gql::TypeRef& t) { return t.kind != gql::TypeRef::Kind::kNonNull; }
  static const gql::TypeRef& strip(const gql::TypeRef& t) { return nullable(t) ? t : *t.of; }
  static bool same_shape(const gql::TypeRef& a, const gql::TypeRef& b);
  bool usage_allowed(const gql::TypeRef& location, bool location_has_default, const VarInfo& var);
  // nullopt: a variable that was not provided (the input field or argument is then absent).
  Result<std::optional<boost::json::value>> coerce_literal(const gql::Value& v,
                                                           const gql::TypeRef& t,
                                                           const std::string& path,
                                                           bool location_has_default = false);
  Status check_required(const TypeDef& d, const boost::json::object& given,
                        const std::string& path);
  boost::json::value literal_to_json(const gql::Value& v);
  Result<boost::json::value> scalar_literal(const gql::Value& v, const std::string& scalar,
                                            const std::string& path);
  Result<boost::json::value> coerce_json(const boost::json::value& v, const gql::TypeRef& t,
                                         const std::string& path);

  // ---- selection sets (compile_selection.cpp) ----
  Result<bool> included(const std::vector<gql::Directive>& dirs, const std::string& path);
  Status collect_into(const gql::SelectionSet& set, const TypeDef& type, const std::string& path,
                      std::vector<Collected>& out,
                      std::unordered_map<std::string_view, size_t>& by_key);
  Result<std::vector<Collected>> collect(const std::vector<const gql::SelectionSet*>& sets,
                                         const TypeDef& type, const std::string& path);
  static bool has_selection(const Collected& c);
  const FieldDef* field_def(const TypeDef& type, const std::string& name, bool is_root);
  Result<boost::json::object> arguments(const Collected& c, const FieldDef& fd);

  // ---- root fields and IR (compile_ir.cpp) ----
  ir::Param static_param(boost::json::value v);
  Result<ir::RootField> root_field(const TypeDef& root, const Collected& c);
  Result<std::pair<boost::json::object, bool>> namespace_fields(const FieldDef& ns,
                                                                const Collected& c);
  Result<ir::BoolExpPtr> permission(size_t table);
  Result<ir::Select> rows(size_t table, const boost::json::object& args, const std::string& path,
                          bool by_pk);
  Status order_by(size_t table, const boost::json::value& item, const ir::OrderBy& prefix,
                  std::vector<ir::OrderBy>& out);
  ir::Join join_of(const Relationship& rel);
  Result<ir::Select> select(size_t table, const boost::json::object& args, const Collected& c,
                            bool by_pk);
  Result<std::vector<ir::Field>> object_fields(size_t table, const Collected& c);
  Result<ir::Aggregate> aggregate(size_t table, const boost::json::object& args,
                                  const Collected& c);

  // ---- Relay (compile_relay.cpp) ----
  Result<ir::RootField> node_field(const boost::json::object& args, const Collected& c);
  Result<ir::Connection> connection(size_t table, const boost::json::object& args,
                                    const Collected& c);
  Result<std::optional<ir::Param>> cursor_arg(const ir::Connection& conn,
                                              const boost::json::object& args, const char* name,
                                              const std::string& path);
  // ---- tracked functions and computed fields (compile_functions.cpp) ----
  // <fn> and <fn>_aggregate root fields: the return table's rows read from the call.
  Result<ir::RootField> function_root(const FieldDef& fd, const boost::json::object& args,
                                      const Collected& c);
  // A computed field of a row of `table`: its value (kComputed) or its rows (kArrayRel).
  Result<ir::Field> computed_field(size_t table, const FieldDef& fd,
                                   const boost::json::object& args, const Collected& c);
  // A VOLATILE function's mutation_root field: its call and the rows it returns, as a query's.
  Result<MutationRoot> function_mutation(const FieldDef& fd, const boost::json::object& args,
                                         const Collected& c);

  // ---- streaming subscriptions (compile_stream.cpp) ----
  // <t>_stream(batch_size, cursor, where): one batch of rows past the cursor (ir::RootField's
  // stream_* members).
  Result<ir::RootField> stream_root(const FieldDef& fd, const boost::json::object& args,
                                    const Collected& c);

  // ---- mutations (compile_mutation.cpp) ----
  // The columns of a nested (array relationship) insert level that come from the parent row, so
  // that the request may not give them.
  struct ParentLink {
    std::vector<std::string> columns;  // Postgres columns of the nested table
  };
  Result<MutationRoot> mutation_field(const TypeDef& root, const Collected& c);
  Result<ir::BoolExpPtr> write_permission(size_t table, const boost::json::value& filter);
  Result<std::vector<ir::ColumnValue>> presets(size_t table,
                                               const std::vector<metadata::ColumnPreset>& set);
  Result<ir::Insert> insert(size_t table, const boost::json::array& objects,
                            const boost::json::value* on_conflict, const std::string& path,
                            bool indexed, const ParentLink* parent);
  bool after_parent(size_t table, const Relationship& rel) const;
  Result<ir::InsertRow> insert_row(size_t table, const boost::json::object& object,
                                   const std::string& path, const ParentLink* parent);
  Result<ir::OnConflict> on_conflict(size_t table, const boost::json::object& arg,
                                     const std::string& path);
  Result<ir::Update> update(size_t table, const boost::json::object& args, const std::string& path,
                            bool by_pk);
  Result<ir::Delete> remove(size_t table, const boost::json::object& args, const std::string& path,
                            bool by_pk);
  Result<ir::BoolExpPtr> key_equality(size_t table, const boost::json::object& keys);
  // The rows a field names before permissions: its key columns' equality (by_pk; `args` holds
  // the keys), or its `where` argument (null when absent or always true). For queries, updates
  // and deletes alike.
  Result<ir::BoolExpPtr> rows_named(size_t table, const boost::json::object& args,
                                    const std::string& where_path, bool by_pk);
  Result<std::vector<ir::MutationOutputField>> mutation_output(size_t table, const TypeDef& type,
                                                               const Collected& c);
  Result<ir::Select> returning(size_t table, const Collected& c);

  // ---- introspection (compile_introspection.cpp) ----
  Result<boost::json::value> intro_schema(const Collected& c);
  Result<boost::json::value> intro_directive(const std::string& name, const Collected& c);
  Result<boost::json::value> intro_type(const gql::TypeRef& t, const Collected& c);
  Result<boost::json::value> intro_field(const FieldDef& fd, const Collected& c);
  Result<boost::json::value> intro_input_value(const InputValueDef& iv, const Collected& c);
  Result<boost::json::value> intro_enum_value(const std::string& name,
                                              const std::string& description, const Collected& c);
  static FieldDef make_schema_field();
  static FieldDef make_type_field();

  const Schema& schema_;
  const RoleSchema& rs_;
  const Request& req_;
  const Session& session_;
  const Limits& limits_;
  gql::Document doc_;
  const gql::OperationDefinition* op_ = nullptr;
  FragmentIndex fragments_;
  std::map<std::string, VarInfo> vars_;
  bool in_default_ = false;
  // Statements the mutation's fields run so far: each root field one, each item of an
  // update_<t>_many one; held to max_root_fields like the root fields themselves.
  size_t statements_ = 0;
  // How the scalar being coerced is read (its input field's or argument's InputValueDef).
  InputValueDef::Parsing parsing_ = InputValueDef::Parsing::kStrict;
  CompiledOperation out_;
  ParamSink params_{out_.vars, &out_.origins};
  FieldDef schema_field_ = make_schema_field();
  FieldDef type_field_ = make_type_field();
};

}  // namespace liveql::compiler::detail

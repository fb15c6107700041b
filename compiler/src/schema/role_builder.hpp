// Builds one role's type system, named and described as Hasura v2 does: schema_types.cpp the
// tables and query_root / subscription_root, schema_mutation_types.cpp mutation_root and the
// input types it takes. Internal to the compiler; build_role_schema() is the entry point.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "schema/schema.hpp"

namespace liveql::compiler::detail {

class RoleBuilder {
 public:
  RoleBuilder(const Schema& schema, const std::string& role, bool backend);
  RoleSchema build();

  static InputValueDef input(std::string name, gql::TypeRef type, std::string description = "");
  static FieldDef field(std::string name, gql::TypeRef type, FieldRole role,
                        std::string description = "");
  static bool is_numeric_scalar(const std::string& s);
  // A table as Hasura quotes it in descriptions: "schema.name", or "name" in public.
  static std::string table_text(const TrackedTable& tt);
  static void sort_fields(TypeDef& t);

 private:
  // schema_types.cpp
  void add_scalar(const std::string& name);
  void add_order_by_enum();
  void add_visibility(size_t i);
  const std::string& gql_column(const TrackedTable& tt, const std::string& col);
  std::vector<InputValueDef> select_args(const RoleTable& rt);
  std::string comparison_type(const std::string& scalar);
  // <scalar>_comparison_exp with Hasura's description and no fields yet.
  static TypeDef comparison_exp(const std::string& scalar);
  void add_table_types(const RoleTable& rt);
  void add_aggregate_types(const RoleTable& rt, const std::vector<const catalog::Column*>& numeric,
                           const std::vector<const catalog::Column*>& comparable);
  std::vector<FieldDef> root_fields(const RoleTable& rt);
  // <t>_aggregate_order_by (and its <t>_<fn>_order_by types) for ordering by an array
  // relationship's aggregates; added once, returns its name.
  std::string aggregate_order_by_type(const RoleTable& rt);

  // enum_tables.cpp
  // A column's GraphQL type name, added to the role's types: its enum when it references an
  // enum table, else its scalar.
  std::string column_type(const TrackedTable& tt, const catalog::Column& c);
  std::string enum_type(size_t enum_table);
  std::string enum_comparison_type(const std::string& enum_name);

  // schema_mutation_types.cpp
  void add_write_permissions(RoleTable& rt);
  // `functions`: the role's tracked functions exposed as mutations (add_function_fields).
  void add_mutation_root(std::vector<FieldDef> functions = {});
  void add_mutation_fields(const RoleTable& rt, std::vector<FieldDef>& out);
  std::string bool_exp_type(size_t table);
  std::string mutation_response_type(const RoleTable& rt);
  std::string insert_input_type(size_t table);
  std::string rel_insert_type(size_t table, bool array);
  bool has_on_conflict(size_t table);
  std::string on_conflict_type(size_t table);
  std::vector<InputValueDef> update_operator_args(const RoleTable& rt);
  std::string pk_columns_type(const RoleTable& rt);
  std::string updates_type(const RoleTable& rt);
  InputValueDef column_input(const TrackedTable& tt, const std::string& column, bool non_null_type);

  // functions.cpp
  // Root fields of the tracked functions the role sees: query/subscription ones into `query`,
  // VOLATILE ones (unless exposed_as: query) into `mutation`.
  void add_function_fields(std::vector<FieldDef>& query, std::vector<FieldDef>& mutation);
  // A table's computed fields the role sees: fields of its object type, and those without
  // arguments in its bool_exp and (scalar ones) order_by types.
  void add_computed_fields(const RoleTable& rt, TypeDef& obj, TypeDef& bexp, TypeDef& ord);
  bool sees_computed(const RoleTable& rt, const ComputedField& cf) const;
  // The `args` argument of a function or computed field (adds <fn>_args); nullopt: none.
  std::optional<InputValueDef> function_args(const FunctionCallShape& shape);

  // streaming.cpp
  // subscription_root's <t>_stream field, adding its cursor input types and cursor_ordering;
  // nullopt when the role sees no column of the table (Hasura's: no cursor to stream on).
  std::optional<FieldDef> stream_field(const RoleTable& rt);

  const Schema& schema_;
  bool backend_;
  RoleSchema rs_;
};

}  // namespace liveql::compiler::detail

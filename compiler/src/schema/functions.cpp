// Tracked SQL functions and computed fields: checked against the catalog as Hasura v2 checks
// them, their GraphQL fields and `<fn>_args` input types, and the call a request makes.
#include "schema/functions.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>

#include "schema/role_builder.hpp"

namespace liveql::compiler {

namespace json = boost::json;

namespace {

Error function_error(const catalog::QualifiedName& f, const std::string& reason) {
  return make_error(
      ErrorCode::kValidationFailed,
      fmt::format("inconsistent metadata: in function \"{}\": the function \"{}\" cannot be "
                  "tracked because {}",
                  f.to_string(), f.to_string(), reason));
}

Error computed_error(const TrackedTable& tt, const std::string& name, const std::string& reason) {
  const std::string table = tt.table.name.to_string();
  return make_error(
      ErrorCode::kValidationFailed,
      fmt::format("inconsistent metadata: in table \"{}\": in computed field \"{}\": the computed "
                  "field \"{}\" cannot be added to table \"{}\" because {}",
                  table, name, name, table, reason));
}

std::string default_function_name(const catalog::QualifiedName& q) {
  return q.schema == "public" ? q.name : q.schema + "_" + q.name;
}

bool is_json(const catalog::Column& t) {
  return t.type_schema == "pg_catalog" && t.udt_name == "json";
}

// The tracked table whose row type `t` is.
std::optional<size_t> row_table(const Schema& schema, const catalog::Column& t) {
  for (size_t i = 0; i < schema.tables.size(); ++i) {
    const auto& q = schema.tables[i].table.name;
    if (q.schema == t.type_schema && q.name == t.udt_name) return i;
  }
  return std::nullopt;
}

// The function's arguments as GraphQL sees them: every one but the session and row arguments,
// named by their SQL name or arg_<n> (n counting the unnamed ones, from 1).
FunctionCallShape shape_of(const catalog::Function& fn, const catalog::Catalog& catalog,
                           std::optional<size_t> session, std::optional<size_t> row,
                           const std::string& gql_name) {
  FunctionCallShape shape;
  shape.function = fn;
  shape.session_argument = session;
  shape.table_argument = row;
  size_t unnamed = 0;
  for (size_t i = 0; i < fn.arguments.size(); ++i) {
    const auto& a = fn.arguments[i];
    if (a.name.empty()) ++unnamed;
    if (i == session || i == row) continue;
    FunctionCallShape::Input in;
    in.gql_name = a.name.empty() ? fmt::format("arg_{}", unnamed) : a.name;
    in.position = i;
    in.scalar = catalog.table({a.type.type_schema, a.type.udt_name}) ? a.type.udt_name + "_scalar"
                                                                     : scalar_for(a.type);
    if (!a.has_default) shape.args_required = true;
    shape.inputs.push_back(std::move(in));
  }
  if (!shape.inputs.empty()) shape.args_type = gql_name + "_args";
  return shape;
}

// The position of the argument named `name`.
std::optional<size_t> argument(const catalog::Function& fn, const std::string& name) {
  for (size_t i = 0; i < fn.arguments.size(); ++i)
    if (fn.arguments[i].name == name) return i;
  return std::nullopt;
}

Status resolve_function(Schema& schema, const catalog::Catalog& catalog,
                        const metadata::FunctionMetadata& fm) {
  const catalog::QualifiedName& q = fm.function;
  const catalog::Function* fn = catalog.function(q);
  if (!fn)
    return make_error(ErrorCode::kValidationFailed,
                      fmt::format("inconsistent metadata: in function \"{}\": no such function "
                                  "exists: \"{}\"",
                                  q.to_string(), q.to_string()));
  if (fn->overloads > 1) return function_error(q, "function overloading is not supported");
  if (fn->variadic) return function_error(q, "the function has a variadic argument");
  if (fm.exposed_as == metadata::FunctionMetadata::ExposedAs::kMutation && fn->volatility != 'v')
    return function_error(q,
                          "the function was requested to be exposed as a mutation, but is not "
                          "marked VOLATILE. Maybe the function was given the wrong volatility "
                          "when it was defined?");
  if (fn->return_kind != 'c' || fn->has_out_arguments)
    return function_error(q, "the function does not return a \"COMPOSITE\" type");
  auto table = row_table(schema, fn->return_type);
  if (!table)
    return function_error(q, fmt::format("the function's return table \"{}.{}\" is not tracked",
                                         fn->return_type.type_schema, fn->return_type.udt_name));
  std::optional<size_t> session;
  if (fm.session_argument) {
    session = argument(*fn, *fm.session_argument);
    if (!session)
      return function_error(q, fmt::format("given session argument \"{}\" not the input argument "
                                           "of the function",
                                           *fm.session_argument));
    if (!is_json(fn->arguments[*session].type))
      return function_error(q, fmt::format("given session argument \"{}\" is not of type json",
                                           *fm.session_argument));
  }
  TrackedFunction tf;
  tf.meta = fm;
  tf.table = *table;
  std::string base = fm.custom_name.value_or(default_function_name(q));
  tf.gql_name = fm.custom_function.value_or(base);
  tf.aggregate_name = fm.custom_function_aggregate.value_or(base + "_aggregate");
  tf.mutation =
      fm.exposed_as == metadata::FunctionMetadata::ExposedAs::kMutation ||
      (fm.exposed_as == metadata::FunctionMetadata::ExposedAs::kDefault && fn->volatility == 'v');
  tf.call = shape_of(*fn, catalog, session, std::nullopt, base);
  for (const auto& other : schema.functions)
    if (other.meta.function == q)
      return make_error(
          ErrorCode::kValidationFailed,
          fmt::format("inconsistent metadata: function \"{}\" is tracked twice", q.to_string()));
  schema.functions.push_back(std::move(tf));
  return Ok{};
}

Status resolve_computed_field(Schema& schema, const catalog::Catalog& catalog, size_t table,
                              const metadata::TableMetadata::ComputedField& cm) {
  TrackedTable& tt = schema.tables[table];
  const catalog::Function* fn = catalog.function(cm.function);
  if (!fn)
    return computed_error(tt, cm.name,
                          fmt::format("no such function exists: \"{}\"", cm.function.to_string()));
  if (fn->overloads > 1)
    return computed_error(tt, cm.name, "function overloading is not supported");
  if (fn->volatility == 'v')
    return computed_error(tt, cm.name, "the function is VOLATILE, which is not supported");
  if (fn->arguments.empty()) return computed_error(tt, cm.name, "the function has no arguments");
  std::optional<size_t> row = 0;
  if (cm.table_argument) {
    row = argument(*fn, *cm.table_argument);
    if (!row)
      return computed_error(tt, cm.name,
                            fmt::format("the table argument \"{}\" is not an input argument of "
                                        "the function",
                                        *cm.table_argument));
  }
  const catalog::Column& row_type = fn->arguments[*row].type;
  if (row_type.type_schema != tt.table.name.schema || row_type.udt_name != tt.table.name.name)
    return computed_error(tt, cm.name,
                          fmt::format("the type of the table argument is not the table \"{}\"",
                                      tt.table.name.to_string()));
  std::optional<size_t> session;
  if (cm.session_argument) {
    session = argument(*fn, *cm.session_argument);
    if (!session || session == row)
      return computed_error(tt, cm.name,
                            fmt::format("the session argument \"{}\" is not an input argument "
                                        "of the function",
                                        *cm.session_argument));
    if (!is_json(fn->arguments[*session].type))
      return computed_error(
          tt, cm.name,
          fmt::format("the session argument \"{}\" is not of type json", *cm.session_argument));
  }
  ComputedField cf;
  cf.name = cm.name;
  cf.comment = cm.comment;
  cf.call = shape_of(*fn, catalog, session, row, default_function_name(cm.function));
  // The function may also be tracked, with its row argument in <fn>_args: the computed field's
  // arguments then get a type of their own.
  for (const auto& tf : schema.functions)
    if (!cf.call.args_type.empty() && tf.call.args_type == cf.call.args_type)
      cf.call.args_type = tt.gql_name + "_" + cm.name + "_args";
  if (fn->has_out_arguments || fn->return_kind == 'p')
    return computed_error(tt, cm.name, "the function does not return a base type or a table");
  if (fn->return_kind == 'c') {
    cf.returns = row_table(schema, fn->return_type);
    if (!cf.returns)
      return computed_error(tt, cm.name,
                            fmt::format("the function's return table \"{}.{}\" is not tracked",
                                        fn->return_type.type_schema, fn->return_type.udt_name));
    if (!fn->returns_set)
      return computed_error(tt, cm.name, "the function does not return a SETOF table");
  } else {
    if (fn->returns_set)
      return computed_error(tt, cm.name, "the function returns a SETOF of a base type");
    cf.scalar = fn->return_type;
    cf.scalar.name = cm.name;
  }
  for (const auto& [g, c] : tt.column_names)
    if (g == cm.name) return computed_error(tt, cm.name, "a column of the table has the same name");
  if (tt.computed_field(cm.name)) return computed_error(tt, cm.name, "it is defined twice");
  tt.computed_fields.push_back(std::move(cf));
  return Ok{};
}

}  // namespace

const ComputedField* TrackedTable::computed_field(const std::string& name) const {
  for (const auto& cf : computed_fields)
    if (cf.name == name) return &cf;
  return nullptr;
}

namespace {

// An inherited role may call a function when one of its parents may (resolved recursively),
// unless it has a function permission of its own, as Hasura does.
void add_inherited_function_permissions(const std::vector<metadata::InheritedRole>& roles,
                                        metadata::FunctionMetadata& fm) {
  auto permitted = [&](const std::string& role) {
    return std::find(fm.permissions.begin(), fm.permissions.end(), role) != fm.permissions.end();
  };
  // Each pass admits the roles one of whose parents is admitted; the roles are checked
  // acyclic, so as many passes as there are roles reach every ancestor.
  for (size_t pass = 0; pass < roles.size(); ++pass) {
    bool grew = false;
    for (const auto& r : roles) {
      if (permitted(r.role_name)) continue;
      if (std::any_of(r.role_set.begin(), r.role_set.end(), permitted)) {
        fm.permissions.push_back(r.role_name);
        grew = true;
      }
    }
    if (!grew) break;
  }
}

}  // namespace

Status resolve_functions(Schema& schema, const catalog::Catalog& catalog,
                         const metadata::Metadata& metadata) {
  // As Hasura at startup: an inconsistent function or computed field is left out and reported,
  // the rest is served.
  for (const auto& fm : metadata.functions) {
    metadata::FunctionMetadata with_inherited = fm;
    add_inherited_function_permissions(metadata.inherited_roles, with_inherited);
    if (auto s = resolve_function(schema, catalog, with_inherited); !s)
      schema.inconsistent.push_back(
          {"function", "function " + fm.function.to_string(), s.error().message});
  }
  for (size_t i = 0; i < schema.tables.size(); ++i) {
    // A copy: resolving appends to the table's computed_fields.
    const auto defs = schema.tables[i].meta.computed_fields;
    for (const auto& cm : defs)
      if (auto s = resolve_computed_field(schema, catalog, i, cm); !s)
        schema.inconsistent.push_back(
            {"computed_field",
             "computed field " + cm.name + " of table " + schema.tables[i].table.name.to_string(),
             s.error().message});
  }
  return Ok{};
}

const std::vector<InconsistentObject>& inconsistent_objects(const Schema& schema) {
  return schema.inconsistent;
}

json::object session_json(const Session& session) {
  json::object out;
  out["x-hasura-role"] = session.role;
  for (const auto& [k, v] : session.variables) out[k] = v;
  return out;
}

Result<ir::FunctionCallPtr> function_call(const FunctionCallShape& shape, const json::object& args,
                                          const catalog::QualifiedName& row_table,
                                          const Session* session, ParamSink* params,
                                          const std::string& path) {
  auto call = std::make_shared<ir::FunctionCall>();
  call->function = shape.function.name;
  call->row_table = row_table;
  // Positional: every argument up to the last one given; those after it take their defaults. A
  // session or row argument after an omitted one is passed by name.
  const auto& fargs = shape.function.arguments;
  bool omitted = false;
  auto param = [&](json::value v, const catalog::Column& type) {
    if (!params) return ir::Param{"", cast_type(type), false};
    return params->add(std::move(v), cast_type(type));
  };
  for (size_t i = 0; i < fargs.size(); ++i) {
    ir::FunctionCall::Arg a;
    const bool implicit = i == shape.table_argument || i == shape.session_argument;
    if (i == shape.table_argument) {
      a.kind = ir::FunctionCall::Arg::Kind::kRow;
    } else if (i == shape.session_argument) {
      a.param = param(session ? json::value(session_json(*session)) : json::value(json::object()),
                      fargs[i].type);
    } else {
      const FunctionCallShape::Input* in = nullptr;
      for (const auto& x : shape.inputs)
        if (x.position == i) in = &x;
      const json::value* v = in ? args.if_contains(in->gql_name) : nullptr;
      if (!v) {
        if (!fargs[i].has_default)
          return make_error(ErrorCode::kNotSupported, "Non default arguments cannot be omitted",
                            path);
        omitted = true;
        continue;
      }
      if (omitted)
        return make_error(ErrorCode::kNotSupported,
                          "Only last set of positional arguments can be omitted", path);
      a.param = param(*v, fargs[i].type);
    }
    if (omitted && implicit) {
      if (fargs[i].name.empty())
        return make_error(ErrorCode::kNotSupported,
                          "Only last set of positional arguments can be omitted", path);
      a.name = fargs[i].name;
    }
    call->args.push_back(std::move(a));
  }
  return ir::FunctionCallPtr(std::move(call));
}

namespace detail {

std::optional<InputValueDef> RoleBuilder::function_args(const FunctionCallShape& shape) {
  if (shape.inputs.empty()) return std::nullopt;
  const std::string fname = shape.function.name.to_string();
  if (!rs_.types.count(shape.args_type)) {
    TypeDef t{TypeKind::kInputObject, shape.args_type};
    t.description =
        fmt::format("input parameters for function \"{}\"",
                    shape.function.name.schema == "public" ? shape.function.name.name : fname);
    for (const auto& in : shape.inputs) {
      add_scalar(in.scalar);
      t.input_fields.push_back(input(in.gql_name, named_type(in.scalar)));
    }
    rs_.types.emplace(t.name, std::move(t));
  }
  const std::string shown =
      shape.function.name.schema == "public" ? shape.function.name.name : fname;
  gql::TypeRef type = named_type(shape.args_type);
  return input("args", shape.args_required ? non_null(type) : type,
               fmt::format("input parameters for function \"{}\"", shown));
}

bool RoleBuilder::sees_computed(const RoleTable& rt, const ComputedField& cf) const {
  if (cf.returns) {
    const auto it = rs_.tables.find(*cf.returns);
    return it != rs_.tables.end() && it->second.selectable;
  }
  return rs_.role == "admin" || (rt.permission && rt.permission->computed_fields.count(cf.name));
}

void RoleBuilder::add_computed_fields(const RoleTable& rt, TypeDef& obj, TypeDef& bexp,
                                      TypeDef& ord) {
  const TrackedTable& tt = schema_.tables[rt.table];
  for (const auto& cf : tt.computed_fields) {
    if (!sees_computed(rt, cf)) continue;
    const std::string shown = cf.call.function.name.schema == "public"
                                  ? cf.call.function.name.name
                                  : cf.call.function.name.to_string();
    const std::string description =
        cf.comment.empty() ? fmt::format("A computed field, executes function \"{}\"", shown)
                           : cf.comment;
    std::optional<InputValueDef> args = function_args(cf.call);
    if (cf.returns) {
      const std::string& tn = schema_.tables[*cf.returns].gql_name;
      FieldDef f = field(cf.name, non_null(list_of(non_null(named_type(tn)))),
                         FieldRole::kComputedTable, description);
      if (args) f.args.push_back(*args);
      for (auto& a : select_args(rs_.tables.at(*cf.returns))) f.args.push_back(std::move(a));
      f.table = *cf.returns;
      f.computed = &cf;
      obj.fields.push_back(std::move(f));
      if (!args) {
        bexp.input_fields.push_back(input(cf.name, named_type(tn + "_bool_exp")));
        ord.input_fields.push_back(input(cf.name + "_aggregate", named_type(aggregate_order_by_type(
                                                                     rs_.tables.at(*cf.returns)))));
      }
      continue;
    }
    const std::string scalar = scalar_for(cf.scalar);
    add_scalar(scalar);
    FieldDef f = field(cf.name, named_type(scalar), FieldRole::kComputedScalar, description);
    if (args) f.args.push_back(*args);
    f.table = rt.table;
    f.computed = &cf;
    obj.fields.push_back(std::move(f));
    if (!args) {
      bexp.input_fields.push_back(input(cf.name, named_type(comparison_type(scalar))));
      ord.input_fields.push_back(input(cf.name, named_type("order_by")));
    }
  }
}

void RoleBuilder::add_function_fields(std::vector<FieldDef>& query,
                                      std::vector<FieldDef>& mutation) {
  for (const auto& tf : schema_.functions) {
    const RoleTable* rt = rs_.table(tf.table);
    if (!rt || !rt->selectable) continue;
    // As Hasura: inferred permissions never expose a mutation; it needs a function permission.
    const bool permitted = rs_.role == "admin" ||
                           (schema_.options.infer_function_permissions && !tf.mutation) ||
                           std::find(tf.meta.permissions.begin(), tf.meta.permissions.end(),
                                     rs_.role) != tf.meta.permissions.end();
    if (!permitted) continue;
    const TrackedTable& tt = schema_.tables[tf.table];
    const std::string& tn = tt.gql_name;
    const catalog::QualifiedName& q = tf.call.function.name;
    const std::string shown = q.schema == "public" ? q.name : q.to_string();
    const std::string returns = table_text(tt);
    std::optional<InputValueDef> args = function_args(tf.call);
    auto& out = tf.mutation ? mutation : query;
    const std::string description =
        tf.meta.comment.empty()
            ? fmt::format("execute function \"{}\" which returns \"{}\"", shown, returns)
            : tf.meta.comment;
    if (!tf.call.function.returns_set) {
      // As Hasura: a single row (or null), with the table's arguments all the same.
      FieldDef f = field(tf.gql_name, named_type(tn), FieldRole::kFunction, description);
      if (args) f.args.push_back(*args);
      for (auto& a : select_args(*rt)) f.args.push_back(std::move(a));
      f.table = tf.table;
      f.function_def = &tf;
      out.push_back(std::move(f));
      continue;
    }
    FieldDef f = field(tf.gql_name, non_null(list_of(non_null(named_type(tn)))),
                       FieldRole::kFunction, description);
    if (args) f.args.push_back(*args);
    for (auto& a : select_args(*rt)) f.args.push_back(std::move(a));
    f.table = tf.table;
    f.function_def = &tf;
    out.push_back(std::move(f));
    if (rt->aggregations && !tf.mutation) {
      FieldDef a = field(tf.aggregate_name, non_null(named_type(tn + "_aggregate")),
                         FieldRole::kFunctionAggregate,
                         fmt::format("execute function \"{}\" and query aggregates on result of "
                                     "table type \"{}\"",
                                     shown, returns));
      if (args) a.args.push_back(*args);
      for (auto& x : select_args(*rt)) a.args.push_back(std::move(x));
      a.table = tf.table;
      a.function_def = &tf;
      out.push_back(std::move(a));
    }
  }
}

}  // namespace detail

}  // namespace liveql::compiler

// Stage 1 of compile(): choosing the operation (operationName) and coercing the request's
// variable values against their definitions (defaults, non-null, depth, unexpected names).
#include <fmt/format.h>

#include <boost/json.hpp>

#include "schema/compile_stages.hpp"

namespace liveql::compiler::detail {

namespace json = boost::json;

Status OperationCompiler::select_operation() {
  const auto& ops = doc_.operations;
  bool has_anonymous = false;
  for (const auto& op : ops) has_anonymous = has_anonymous || !op.name;
  if (req_.operation_name && has_anonymous && ops.size() > 1)
    return invalid(
        "operationName cannot be used when an anonymous operation exists in the document");
  if (req_.operation_name) {
    for (const auto& op : ops)
      if (op.name == *req_.operation_name) op_ = &op;
    if (!op_)
      return invalid(
          fmt::format("no such operation found in the document: \"{}\"", *req_.operation_name));
    return Ok{};
  }
  if (ops.size() != 1)
    return invalid(
        "exactly one operation has to be present in the document when operationName is not "
        "specified");
  op_ = &ops[0];
  return Ok{};
}

bool OperationCompiler::is_input_type(const gql::TypeRef& t) {
  const TypeDef* d = rs_.type(base_name(t));
  return d && (d->kind == TypeKind::kScalar || d->kind == TypeKind::kEnum ||
               d->kind == TypeKind::kInputObject);
}

Status OperationCompiler::coerce_variables() {
  for (const auto& def : op_->variables) {
    std::string path = "$.variableValues." + def.name;
    if (vars_.count(def.name))
      return invalid(fmt::format("multiple definitions for variable '{}'", def.name));
    if (!is_input_type(def.type))
      return invalid(
          fmt::format("variable '{}' is declared as {}, which is not an input type "
                      "of this schema",
                      def.name, type_to_string(def.type)));
    VarInfo info{&def, std::nullopt};
    if (const json::value* v = req_.variables.if_contains(def.name)) {
      // As deep as an inline value may be: coercion, bool_exp building and SQL generation
      // recurse once per level.
      const size_t max_depth = std::min(limits_.parse.max_value_depth, gql::kMaxSupportedDepth);
      if (json_depth(*v, max_depth) > max_depth)
        return invalid(
            fmt::format("the variable '{}' nests deeper than the limit of {}", def.name, max_depth),
            path);
      LQ_TRY(c, coerce_json(*v, def.type, path));
      info.value = std::move(c);
    } else if (def.default_value) {
      in_default_ = true;
      auto c = coerce_literal(*def.default_value, def.type, path);
      in_default_ = false;
      if (!c) return c.take_error();
      info.value = std::move(*c);
    } else if (def.type.kind == gql::TypeRef::Kind::kNonNull) {
      return invalid(fmt::format("expecting a value for non-nullable variable: \"{}\"", def.name),
                     "$.variableValues");
    }
    vars_.emplace(def.name, std::move(info));
  }
  std::vector<std::string> extra;
  for (const auto& kv : req_.variables)
    if (!vars_.count(std::string(kv.key()))) extra.emplace_back(kv.key());
  if (!extra.empty())
    return invalid(
        fmt::format("unexpected variables in variableValues: {}", fmt::join(extra, ", ")));
  return Ok{};
}

// Nesting of arrays and objects (a scalar is 0 deep); stops looking past `limit`, so the
// recursion is bounded whatever the value.
size_t OperationCompiler::json_depth(const json::value& v, size_t limit) {
  if (limit == 0) return v.is_array() || v.is_object() ? 1 : 0;
  size_t deepest = 0;
  if (v.is_array()) {
    for (const auto& e : v.get_array()) deepest = std::max(deepest, json_depth(e, limit - 1));
  } else if (v.is_object()) {
    for (const auto& kv : v.get_object())
      deepest = std::max(deepest, json_depth(kv.value(), limit - 1));
  } else {
    return 0;
  }
  return deepest + 1;
}

}  // namespace liveql::compiler::detail

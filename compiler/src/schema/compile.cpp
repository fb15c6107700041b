// compile(): operation selection, variable coercion, fragment checks, field collection and
// merging, argument coercion, introspection, and IR building, in one walk over the selection
// (as Hasura's parsers do): each step knows the type it is in, so errors carry Hasura's path.
#include "liveql/compiler/compile.hpp"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <limits>
#include <set>
#include <unordered_map>

#include "schema/bool_exp.hpp"
#include "schema/executable_rules.hpp"
#include "schema/operation_limits.hpp"
#include "schema/schema.hpp"

namespace liveql::compiler {

namespace json = boost::json;

namespace {

Error invalid(std::string message, std::string path = "$") {
  return make_error(ErrorCode::kValidationFailed, std::move(message), std::move(path));
}

#define LQ_TRY(var, expr)                    \
  auto var##_r = (expr);                     \
  if (!var##_r) return var##_r.take_error(); \
  auto& var = *var##_r

const char* describe(const gql::Value& v) {
  switch (v.kind) {
    case gql::Value::Kind::kNull:
      return "null";
    case gql::Value::Kind::kInt:
      return "an integer";
    case gql::Value::Kind::kFloat:
      return "a float";
    case gql::Value::Kind::kString:
      return "a string";
    case gql::Value::Kind::kBoolean:
      return "a boolean";
    case gql::Value::Kind::kEnum:
      return "an enum value";
    case gql::Value::Kind::kVariable:
      return "a variable";
    case gql::Value::Kind::kList:
      return "a list";
    case gql::Value::Kind::kObject:
      return "an object";
  }
  return "a value";
}

const char* describe(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "a boolean";
    case json::kind::string:
      return "a string";
    case json::kind::array:
      return "a list";
    case json::kind::object:
      return "an object";
    default:
      return "a number";
  }
}

bool value_equal(const gql::Value& a, const gql::Value& b) {
  if (a.kind != b.kind || a.text != b.text || a.list.size() != b.list.size() ||
      a.fields.size() != b.fields.size())
    return false;
  for (size_t i = 0; i < a.list.size(); ++i)
    if (!value_equal(a.list[i], b.list[i])) return false;
  for (size_t i = 0; i < a.fields.size(); ++i)
    if (a.fields[i].first != b.fields[i].first ||
        !value_equal(a.fields[i].second, b.fields[i].second))
      return false;
  return true;
}

bool args_equal(const std::vector<gql::Argument>& a, const std::vector<gql::Argument>& b) {
  if (a.size() != b.size()) return false;
  for (const auto& x : a) {
    bool found = false;
    for (const auto& y : b)
      if (x.name == y.name) found = value_equal(x.value, y.value);
    if (!found) return false;
  }
  return true;
}

bool is_json_scalar(const std::string& s) { return s == "json" || s == "jsonb"; }
bool is_decimal_scalar(const std::string& s) { return s == "numeric" || s == "money"; }

const char* type_kind_name(TypeKind k) {
  switch (k) {
    case TypeKind::kScalar:
      return "SCALAR";
    case TypeKind::kObject:
      return "OBJECT";
    case TypeKind::kInterface:
      return "INTERFACE";
    case TypeKind::kUnion:
      return "UNION";
    case TypeKind::kEnum:
      return "ENUM";
    case TypeKind::kInputObject:
      return "INPUT_OBJECT";
  }
  return "SCALAR";
}

// A field after fragment flattening, @skip/@include and merging of equal response keys.
struct Collected {
  std::string key;
  const gql::Field* field = nullptr;
  std::vector<const gql::SelectionSet*> sets;
  std::string path;
};

class Compiler {
 public:
  Compiler(const Schema& schema, const RoleSchema& rs, const Request& req, const Session& session,
           const Limits& limits)
      : schema_(schema), rs_(rs), req_(req), session_(session), limits_(limits) {}

  Result<CompiledOperation> run() {
    auto doc = gql::parse(req_.query, limits_.parse);
    if (!doc) return doc.take_error();
    doc_ = std::move(*doc);
    auto fragments = detail::check_document(doc_, rs_);
    if (!fragments) return fragments.take_error();
    fragments_ = std::move(*fragments);
    if (auto s = select_operation(); !s) return s.take_error();
    // Limits before anything else looks at the selection: collecting fields expands fragments.
    if (auto s = detail::check_limits(detail::measure(*op_, fragments_, rs_), limits_); !s)
      return s.take_error();
    if (auto s = coerce_variables(); !s) return s.take_error();
    out_.type = op_->type;
    if (op_->type == gql::OperationType::kMutation) return invalid("no mutations exist");
    const TypeDef* root = rs_.type(
        op_->type == gql::OperationType::kSubscription ? "subscription_root" : "query_root");
    LQ_TRY(fields, collect({&op_->selection_set}, *root, "$"));
    if (op_->type == gql::OperationType::kSubscription && fields.size() != 1 &&
        op_->directives.empty())  // @_multiple_top_level_fields, the only one allowed here
      return invalid("subscriptions must select one top level field");
    bool all_static = true;
    json::object data;
    for (const auto& cf : fields) {
      if (out_.root_field_name.empty()) out_.root_field_name = cf.field->name;
      LQ_TRY(rf, root_field(*root, cf));
      if (rf.kind == ir::RootField::Kind::kStatic) {
        data[cf.key] = out_.vars.at(rf.param.key);
      } else {
        all_static = false;
      }
      out_.ir.fields.push_back(std::move(rf));
    }
    if (all_static) out_.static_data = std::move(data);
    // Last, so that a variable unbound where a field uses it is reported with that field's path;
    // this catches the rest (unused variables, and uses in skipped fields).
    if (auto s = detail::check_variables(*op_, fragments_); !s) return s.take_error();
    return std::move(out_);
  }

 private:
  struct VarInfo {
    const gql::VariableDefinition* def = nullptr;
    std::optional<json::value> value;  // nullopt: not provided and no default
  };

  // ---- operation, fragments, variables ----

  Status select_operation() {
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

  bool is_input_type(const gql::TypeRef& t) {
    const TypeDef* d = rs_.type(base_name(t));
    return d && (d->kind == TypeKind::kScalar || d->kind == TypeKind::kEnum ||
                 d->kind == TypeKind::kInputObject);
  }

  Status coerce_variables() {
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
          return invalid(fmt::format("the variable '{}' nests deeper than the limit of {}",
                                     def.name, max_depth),
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
  static size_t json_depth(const json::value& v, size_t limit) {
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

  // ---- input coercion ----

  static bool nullable(const gql::TypeRef& t) { return t.kind != gql::TypeRef::Kind::kNonNull; }

  static const gql::TypeRef& strip(const gql::TypeRef& t) { return nullable(t) ? t : *t.of; }

  // Inner nullability is not compared, as in Hasura (Postgres rejects what does not fit).
  static bool same_shape(const gql::TypeRef& a, const gql::TypeRef& b) {
    const gql::TypeRef& x = strip(a);
    const gql::TypeRef& y = strip(b);
    if (x.kind == gql::TypeRef::Kind::kList && y.kind == gql::TypeRef::Kind::kList)
      return same_shape(*x.of, *y.of);
    if (x.kind == gql::TypeRef::Kind::kNamed && y.kind == gql::TypeRef::Kind::kNamed)
      return x.name == y.name;
    return false;
  }

  // GraphQL spec "All Variable Usages Are Allowed", with Hasura's default-value allowance.
  bool usage_allowed(const gql::TypeRef& location, bool location_has_default, const VarInfo& var) {
    const gql::TypeRef& vt = var.def->type;
    bool var_default =
        var.def->default_value && var.def->default_value->kind != gql::Value::Kind::kNull;
    if (!nullable(location) && nullable(vt) && !location_has_default && !var_default) return false;
    return same_shape(location, vt);
  }

  // nullopt: a variable that was not provided (the input field or argument is then absent).
  Result<std::optional<json::value>> coerce_literal(const gql::Value& v, const gql::TypeRef& t,
                                                    const std::string& path,
                                                    bool location_has_default = false) {
    if (v.kind == gql::Value::Kind::kVariable) {
      if (in_default_) return invalid("variables are not allowed in default values", path);
      auto it = vars_.find(v.text);
      if (it == vars_.end()) return invalid(fmt::format("unbound variable '{}'", v.text), path);
      if (!usage_allowed(t, location_has_default, it->second))
        return invalid(fmt::format("variable '{}' is declared as '{}', but used where '{}' is "
                                   "expected",
                                   v.text, type_to_string(it->second.def->type), type_to_string(t)),
                       path);
      if (it->second.value && it->second.value->is_null() && !nullable(t))
        return invalid(fmt::format("unexpected null value for type '{}'", type_to_string(t)), path);
      return it->second.value;
    }
    if (!nullable(t)) {
      if (v.kind == gql::Value::Kind::kNull)
        return invalid(fmt::format("unexpected null value for type '{}'", type_to_string(*t.of)),
                       path);
      return coerce_literal(v, *t.of, path);
    }
    if (v.kind == gql::Value::Kind::kNull) return std::optional<json::value>(json::value(nullptr));
    if (t.kind == gql::TypeRef::Kind::kList) {
      json::array out;
      if (v.kind == gql::Value::Kind::kList) {
        for (size_t i = 0; i < v.list.size(); ++i) {
          LQ_TRY(e, coerce_literal(v.list[i], *t.of, fmt::format("{}[{}]", path, i)));
          out.push_back(e ? std::move(*e) : json::value(nullptr));
        }
      } else {
        LQ_TRY(e, coerce_literal(v, *t.of, path));
        if (!e) return std::optional<json::value>();
        out.push_back(std::move(*e));
      }
      return std::optional<json::value>(std::move(out));
    }
    const TypeDef* d = rs_.type(t.name);
    if (!d) return invalid(fmt::format("unknown type '{}'", t.name), path);
    if (d->kind == TypeKind::kInputObject) {
      if (v.kind != gql::Value::Kind::kObject)
        return invalid(
            fmt::format("expected an object for type '{}', but found {}", d->name, describe(v)),
            path);
      json::object out;
      for (const auto& [name, fv] : v.fields) {
        const InputValueDef* f = d->input_field(name);
        if (!f)
          return invalid(fmt::format("field '{}' not found in type: '{}'", name, d->name),
                         path + "." + name);
        if (out.contains(name))
          return invalid(fmt::format("duplicate input field '{}'", name), path + "." + name);
        LQ_TRY(c, coerce_literal(fv, f->type, path + "." + name, f->default_value.has_value()));
        if (c) out[name] = std::move(*c);
      }
      if (auto s = check_required(*d, out, path); !s) return s.take_error();
      return std::optional<json::value>(std::move(out));
    }
    if (d->kind == TypeKind::kEnum) {
      if (v.kind != gql::Value::Kind::kEnum)
        return invalid(
            fmt::format("expected an enum value for type '{}', but found {}", d->name, describe(v)),
            path);
      if (std::find(d->enum_values.begin(), d->enum_values.end(), v.text) == d->enum_values.end())
        return invalid(fmt::format("expected one of the values {} for type '{}', but found '{}'",
                                   fmt::join(d->enum_values, ", "), d->name, v.text),
                       path);
      return std::optional<json::value>(json::value(v.text));
    }
    LQ_TRY(s, scalar_literal(v, d->name, path));
    return std::optional<json::value>(std::move(s));
  }

  Status check_required(const TypeDef& d, const json::object& given, const std::string& path) {
    for (const auto& f : d.input_fields)
      if (!nullable(f.type) && !f.default_value && !given.contains(f.name))
        return invalid(fmt::format("missing required field '{}'", f.name), path);
    return Ok{};
  }

  json::value literal_to_json(const gql::Value& v) {
    switch (v.kind) {
      case gql::Value::Kind::kInt: {
        int64_t i = 0;
        auto [p, ec] = std::from_chars(v.text.data(), v.text.data() + v.text.size(), i);
        if (ec == std::errc()) return i;
        return std::strtod(v.text.c_str(), nullptr);
      }
      case gql::Value::Kind::kFloat:
        return std::strtod(v.text.c_str(), nullptr);
      case gql::Value::Kind::kBoolean:
        return v.text == "true";
      case gql::Value::Kind::kString:
      case gql::Value::Kind::kEnum:
        return json::value(v.text);
      case gql::Value::Kind::kList: {
        json::array a;
        for (const auto& e : v.list) a.push_back(literal_to_json(e));
        return a;
      }
      case gql::Value::Kind::kObject: {
        json::object o;
        for (const auto& [k, e] : v.fields) o[k] = literal_to_json(e);
        return o;
      }
      default:
        return nullptr;
    }
  }

  Result<json::value> scalar_literal(const gql::Value& v, const std::string& scalar,
                                     const std::string& path) {
    auto mismatch = [&](const char* expected) {
      return invalid(
          fmt::format("expected {} for type '{}', but found {}", expected, scalar, describe(v)),
          path);
    };
    if (scalar == "Int") {
      if (v.kind != gql::Value::Kind::kInt) return mismatch("a 32-bit integer");
      int64_t i = 0;
      auto [p, ec] = std::from_chars(v.text.data(), v.text.data() + v.text.size(), i);
      if (ec != std::errc() || i < std::numeric_limits<int32_t>::min() ||
          i > std::numeric_limits<int32_t>::max())
        return mismatch("a 32-bit integer");
      return json::value(i);
    }
    if (scalar == "Float") {
      if (v.kind != gql::Value::Kind::kInt && v.kind != gql::Value::Kind::kFloat)
        return mismatch("a float");
      return json::value(std::strtod(v.text.c_str(), nullptr));
    }
    if (scalar == "String") {
      if (v.kind != gql::Value::Kind::kString) return mismatch("a string");
      return json::value(v.text);
    }
    if (scalar == "Boolean") {
      if (v.kind != gql::Value::Kind::kBoolean) return mismatch("a boolean");
      return json::value(v.text == "true");
    }
    if (scalar == "ID") {
      if (v.kind != gql::Value::Kind::kString && v.kind != gql::Value::Kind::kInt)
        return mismatch("a string or an integer");
      return json::value(v.text);
    }
    if (is_json_scalar(scalar)) return literal_to_json(v);
    // Other Postgres scalars take strings and numbers, as Hasura does; Postgres checks the
    // text when it casts. Decimal literals keep their text so no digit is lost.
    switch (v.kind) {
      case gql::Value::Kind::kString:
        return json::value(v.text);
      case gql::Value::Kind::kInt:
        if (is_decimal_scalar(scalar)) return json::value(v.text);
        return literal_to_json(v);
      case gql::Value::Kind::kFloat:
        if (is_decimal_scalar(scalar)) return json::value(v.text);
        return literal_to_json(v);
      case gql::Value::Kind::kBoolean:
        return literal_to_json(v);
      default:
        return mismatch("a scalar value");
    }
  }

  Result<json::value> coerce_json(const json::value& v, const gql::TypeRef& t,
                                  const std::string& path) {
    if (!nullable(t)) {
      if (v.is_null())
        return invalid(fmt::format("unexpected null value for type '{}'", type_to_string(*t.of)),
                       path);
      return coerce_json(v, *t.of, path);
    }
    if (v.is_null()) return json::value(nullptr);
    if (t.kind == gql::TypeRef::Kind::kList) {
      json::array out;
      if (v.is_array()) {
        size_t i = 0;
        for (const auto& e : v.get_array()) {
          LQ_TRY(c, coerce_json(e, *t.of, fmt::format("{}[{}]", path, i++)));
          out.push_back(std::move(c));
        }
      } else {
        LQ_TRY(c, coerce_json(v, *t.of, path));
        out.push_back(std::move(c));
      }
      return json::value(std::move(out));
    }
    const TypeDef* d = rs_.type(t.name);
    if (!d) return invalid(fmt::format("unknown type '{}'", t.name), path);
    auto mismatch = [&](const char* expected) {
      return invalid(
          fmt::format("expected {} for type '{}', but found {}", expected, d->name, describe(v)),
          path);
    };
    if (d->kind == TypeKind::kInputObject) {
      if (!v.is_object()) return mismatch("an object");
      json::object out;
      for (const auto& kv : v.get_object()) {
        std::string name(kv.key());
        const InputValueDef* f = d->input_field(name);
        if (!f)
          return invalid(fmt::format("field '{}' not found in type: '{}'", name, d->name),
                         path + "." + name);
        LQ_TRY(c, coerce_json(kv.value(), f->type, path + "." + name));
        out[name] = std::move(c);
      }
      if (auto s = check_required(*d, out, path); !s) return s.take_error();
      return json::value(std::move(out));
    }
    if (d->kind == TypeKind::kEnum) {
      if (!v.is_string()) return mismatch("a string");
      std::string s(v.get_string());
      if (std::find(d->enum_values.begin(), d->enum_values.end(), s) == d->enum_values.end())
        return invalid(fmt::format("expected one of the values {} for type '{}', but found '{}'",
                                   fmt::join(d->enum_values, ", "), d->name, s),
                       path);
      return v;
    }
    const std::string& s = d->name;
    if (s == "Int") {
      int64_t i = 0;
      if (v.is_int64()) {
        i = v.get_int64();
      } else if (v.is_uint64() && v.get_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
        i = static_cast<int64_t>(v.get_uint64());
      } else if (v.is_double() && std::trunc(v.get_double()) == v.get_double() &&
                 std::abs(v.get_double()) < 1e10) {
        i = static_cast<int64_t>(v.get_double());
      } else {
        return mismatch("a 32-bit integer");
      }
      if (i < std::numeric_limits<int32_t>::min() || i > std::numeric_limits<int32_t>::max())
        return mismatch("a 32-bit integer");
      return json::value(i);
    }
    if (s == "Float") {
      if (!v.is_number()) return mismatch("a float");
      return json::value(v.to_number<double>());
    }
    if (s == "String") {
      if (!v.is_string()) return mismatch("a string");
      return v;
    }
    if (s == "Boolean") {
      if (!v.is_bool()) return mismatch("a boolean");
      return v;
    }
    if (s == "ID") {
      if (v.is_string()) return v;
      if (v.is_int64() || v.is_uint64()) return json::value(json::serialize(v));
      return mismatch("a string or an integer");
    }
    if (is_json_scalar(s)) return v;
    if (v.is_object()) return mismatch("a scalar value");
    return v;
  }

  // ---- selection sets ----

  Result<bool> included(const std::vector<gql::Directive>& dirs, const std::string& path) {
    std::set<std::string> seen;
    for (const auto& d : dirs) {
      if (!seen.insert(d.name).second)
        return invalid(fmt::format("the following directives are used more than once: {}", d.name),
                       path);
      if (d.name != "include" && d.name != "skip")
        return invalid(fmt::format("directive '{}' is not defined in the schema", d.name), path);
      const gql::Argument* arg = nullptr;
      for (const auto& a : d.arguments) {
        if (a.name != "if")
          return invalid(fmt::format("'{}' has no argument named '{}'", d.name, a.name), path);
        arg = &a;
      }
      if (!arg)
        return invalid(fmt::format("missing \"if\" argument for '{}' directive", d.name), path);
      LQ_TRY(v, coerce_literal(arg->value, non_null(named_type("Boolean")), path));
      if (!v || !v->is_bool())
        return invalid(fmt::format("missing \"if\" argument for '{}' directive", d.name), path);
      if (v->get_bool() == (d.name == "skip")) return false;
    }
    return true;
  }

  // Flattens fragments into `out`, merging fields with equal response keys (`by_key` indexes
  // `out`). Iterative: a chain of fragments spreading one another must not recurse.
  Status collect_into(const gql::SelectionSet& set, const TypeDef& type, const std::string& path,
                      std::vector<Collected>& out,
                      std::unordered_map<std::string_view, size_t>& by_key) {
    struct Frame {
      const gql::SelectionSet* set;
      size_t next = 0;
    };
    std::vector<Frame> stack{{&set}};
    while (!stack.empty()) {
      Frame& top = stack.back();
      if (top.next == top.set->size()) {
        stack.pop_back();
        continue;
      }
      const gql::Selection& sel = (*top.set)[top.next++];
      if (const auto* f = std::get_if<gql::Field>(&sel.node)) {
        std::string fpath = path + ".selectionSet." + f->response_key();
        LQ_TRY(inc, included(f->directives, fpath));
        if (!inc) continue;
        auto [it, added] = by_key.try_emplace(f->response_key(), out.size());
        if (added) {
          out.push_back(Collected{f->response_key(), f, {&f->selection_set}, fpath});
          continue;
        }
        Collected* prev = &out[it->second];
        if (prev->field->name != f->name)
          return invalid(fmt::format("selection of both '{}' and '{}' specify the same response "
                                     "name, '{}'",
                                     prev->field->name, f->name, f->response_key()),
                         fpath);
        if (!args_equal(prev->field->arguments, f->arguments))
          return invalid(fmt::format("inconsistent arguments between multiple selections of "
                                     "field '{}'",
                                     f->name),
                         fpath);
        prev->sets.push_back(&f->selection_set);
        continue;
      }
      const gql::SelectionSet* inner = nullptr;
      const std::vector<gql::Directive>* dirs = nullptr;
      std::optional<std::string> cond;
      if (const auto* s = std::get_if<gql::FragmentSpread>(&sel.node)) {
        const gql::FragmentDefinition* fd = fragments_.by_name.find(s->name)->second;
        inner = &fd->selection_set;
        dirs = &s->directives;
        cond = fd->type_condition;
      } else {
        const auto& inl = std::get<gql::InlineFragment>(sel.node);
        inner = &inl.selection_set;
        dirs = &inl.directives;
        cond = inl.type_condition;
      }
      LQ_TRY(inc, included(*dirs, path));
      if (!inc) continue;
      if (cond && *cond != type.name) {
        const TypeDef* ct = rs_.type(*cond);
        if (!ct) return invalid(fmt::format("type '{}' not found in the schema", *cond), path);
        // No interfaces or unions: a fragment on another type never applies.
        return invalid(
            fmt::format("fragment on type '{}' cannot be spread in type '{}'", *cond, type.name),
            path);
      }
      stack.push_back({inner});  // `top` is not used after this
    }
    return Ok{};
  }

  Result<std::vector<Collected>> collect(const std::vector<const gql::SelectionSet*>& sets,
                                         const TypeDef& type, const std::string& path) {
    std::vector<Collected> out;
    std::unordered_map<std::string_view, size_t> by_key;
    for (const auto* s : sets)
      if (auto r = collect_into(*s, type, path, out, by_key); !r) return r.take_error();
    for (const auto& c : out) {
      if (c.field->name == "__typename") {
        if (!c.field->arguments.empty())
          return invalid(
              fmt::format("'__typename' has no argument named '{}'", c.field->arguments[0].name),
              c.path);
        if (has_selection(c))
          return invalid("unexpected subselection set for non-object field", c.path);
        continue;
      }
      bool is_root = type.name == "query_root" || type.name == "subscription_root";
      const FieldDef* fd = field_def(type, c.field->name, is_root);
      if (!fd)
        return invalid(fmt::format("field '{}' not found in type: '{}'", c.field->name, type.name),
                       c.path);
      const TypeDef* ft = rs_.type(base_name(fd->type));
      bool leaf = ft->kind == TypeKind::kScalar || ft->kind == TypeKind::kEnum;
      if (leaf && has_selection(c))
        return invalid("unexpected subselection set for non-object field", c.path);
      if (!leaf && !has_selection(c))
        return invalid(fmt::format("missing selection set for '{}'", ft->name), c.path);
      for (const auto& a : c.field->arguments)
        if (!fd->arg(a.name))
          return invalid(fmt::format("'{}' has no argument named '{}'", fd->name, a.name), c.path);
    }
    return out;
  }

  static bool has_selection(const Collected& c) {
    for (const auto* s : c.sets)
      if (!s->empty()) return true;
    return false;
  }

  const FieldDef* field_def(const TypeDef& type, const std::string& name, bool is_root) {
    if (is_root && name == "__schema") return &schema_field_;
    if (is_root && name == "__type") return &type_field_;
    return type.field(name);
  }

  Result<json::object> arguments(const Collected& c, const FieldDef& fd) {
    json::object out;
    for (const auto& def : fd.args) {
      std::string apath = c.path + ".args." + def.name;
      const gql::Argument* given = nullptr;
      for (const auto& a : c.field->arguments)
        if (a.name == def.name) given = &a;
      if (given) {
        LQ_TRY(v, coerce_literal(given->value, def.type, apath, def.default_value.has_value()));
        if (v) {
          out[def.name] = std::move(*v);
          continue;
        }
      }
      if (def.default_value) {
        auto dv = gql::parse_value(*def.default_value);
        if (dv) {
          LQ_TRY(v, coerce_literal(*dv, def.type, apath));
          if (v) out[def.name] = std::move(*v);
        }
        continue;
      }
      if (!nullable(def.type))
        return invalid(fmt::format("missing required field '{}'", def.name), c.path + ".args");
    }
    return out;
  }

  // ---- root fields ----

  ir::Param static_param(json::value v) { return params_.add(std::move(v), "json"); }

  Result<ir::RootField> root_field(const TypeDef& root, const Collected& c) {
    ir::RootField rf;
    rf.alias = c.key;
    if (c.field->name == "__typename") {
      rf.kind = ir::RootField::Kind::kStatic;
      rf.param = static_param(json::value(root.name));
      return rf;
    }
    const FieldDef* fd = field_def(root, c.field->name, true);
    LQ_TRY(args, arguments(c, *fd));
    switch (fd->role) {
      case FieldRole::kSchema: {
        LQ_TRY(v, intro_schema(c));
        rf.kind = ir::RootField::Kind::kStatic;
        rf.param = static_param(std::move(v));
        return rf;
      }
      case FieldRole::kType: {
        std::string name(args.at("name").get_string());
        json::value v = nullptr;
        if (rs_.type(name)) {
          LQ_TRY(t, intro_type(named_type(name), c));
          v = std::move(t);
        }
        rf.kind = ir::RootField::Kind::kStatic;
        rf.param = static_param(std::move(v));
        return rf;
      }
      case FieldRole::kSelect: {
        rf.kind = ir::RootField::Kind::kSelect;
        LQ_TRY(sel, select(fd->table, args, c, false));
        rf.select = std::move(sel);
        return rf;
      }
      case FieldRole::kSelectByPk: {
        rf.kind = ir::RootField::Kind::kSelectByPk;
        LQ_TRY(sel, select(fd->table, args, c, true));
        rf.select = std::move(sel);
        return rf;
      }
      case FieldRole::kSelectAggregate: {
        rf.kind = ir::RootField::Kind::kAggregate;
        LQ_TRY(agg, aggregate(fd->table, args, c));
        rf.aggregate = std::move(agg);
        return rf;
      }
      default:
        return make_error(ErrorCode::kUnexpected, "unexpected root field", c.path);
    }
  }

  // ---- IR ----

  Result<ir::BoolExpPtr> permission(size_t table) {
    return permission_filter(schema_, rs_, table, session_, params_);
  }

  // Rows of `table` for a root/array field (args: where, order_by, ...), or a by_pk lookup.
  Result<ir::Select> rows(size_t table, const json::object& args, const std::string& path,
                          bool by_pk) {
    const TrackedTable& tt = schema_.tables[table];
    const RoleTable* rt = rs_.table(table);
    ir::Select s;
    s.table = tt.table.name;
    s.primary_key = tt.table.primary_key;
    if (by_pk) {
      std::vector<ir::BoolExpPtr> keys;
      for (const auto& k : tt.table.primary_key) {
        auto e = std::make_shared<ir::BoolExp>();
        e->kind = ir::BoolExp::Kind::kCompare;
        e->column = k;
        e->column_type = cast_type(*tt.table.column(k));
        e->op = ir::CompareOp::kEq;
        e->param = params_.add(args.at(*tt.graphql_column(k)), e->column_type);
        keys.push_back(std::move(e));
      }
      auto all = std::make_shared<ir::BoolExp>();
      all->kind = ir::BoolExp::Kind::kAnd;
      all->children = std::move(keys);
      s.where = all;
    } else if (const json::value* w = args.if_contains("where"); w && !w->is_null()) {
      FilterContext ctx{schema_, &rs_, &session_, &params_};
      LQ_TRY(where, bool_exp(ctx, table, *w, path + ".args.where"));
      if (where->kind != ir::BoolExp::Kind::kTrue) s.where = where;
    }
    LQ_TRY(perm, permission(table));
    s.where = and_exp(s.where, perm);
    if (!by_pk) {
      if (const json::value* o = args.if_contains("order_by"); o && o->is_array())
        for (const auto& item : o->get_array())
          if (auto r = order_by(table, item, {}, s.order_by); !r) return r.take_error();
      if (const json::value* d = args.if_contains("distinct_on"); d && d->is_array())
        for (const auto& item : d->get_array())
          s.distinct_on.push_back(*tt.postgres_column(std::string(item.get_string())));
      if (const json::value* l = args.if_contains("limit"); l && !l->is_null()) {
        if (l->get_int64() < 0) return invalid("unexpected negative value", path + ".args.limit");
        s.limit = params_.add(*l, "integer");
      }
      if (const json::value* o = args.if_contains("offset"); o && !o->is_null()) {
        if (o->get_int64() < 0) return invalid("unexpected negative value", path + ".args.offset");
        s.offset = params_.add(*o, "integer");
      }
    }
    if (rt && rt->permission && rt->permission->limit)
      s.permission_limit = params_.add(json::value(*rt->permission->limit), "integer");
    return s;
  }

  Status order_by(size_t table, const json::value& item, std::vector<ir::Join> path,
                  std::vector<ir::OrderBy>& out) {
    if (!item.is_object()) return Ok{};
    const TrackedTable& tt = schema_.tables[table];
    for (const auto& kv : item.get_object()) {
      if (kv.value().is_null()) continue;
      std::string key(kv.key());
      if (const std::string* col = tt.postgres_column(key)) {
        std::string dir(kv.value().get_string());
        ir::OrderBy ob;
        ob.path = path;
        ob.column = *col;
        ob.desc = dir.rfind("desc", 0) == 0;
        ob.nulls_first = dir == "asc_nulls_first" || dir == "desc" || dir == "desc_nulls_first";
        out.push_back(std::move(ob));
      } else if (const Relationship* rel = tt.relationship(key)) {
        auto next = path;
        next.push_back(join_of(*rel));
        if (auto r = order_by(rel->target, kv.value(), std::move(next), out); !r) return r;
      }
    }
    return Ok{};
  }

  ir::Join join_of(const Relationship& rel) {
    ir::Join j;
    j.name = rel.name;
    j.target = schema_.tables[rel.target].table.name;
    j.mapping = rel.mapping;
    j.is_array = rel.is_array;
    return j;
  }

  Result<ir::Select> select(size_t table, const json::object& args, const Collected& c,
                            bool by_pk) {
    LQ_TRY(s, rows(table, args, c.path, by_pk));
    LQ_TRY(fields, object_fields(table, c));
    s.fields = std::move(fields);
    return std::move(s);
  }

  Result<std::vector<ir::Field>> object_fields(size_t table, const Collected& c) {
    const TypeDef& type = *rs_.type(schema_.tables[table].gql_name);
    LQ_TRY(collected, collect(c.sets, type, c.path));
    std::vector<ir::Field> out;
    for (const auto& cf : collected) {
      ir::Field f;
      f.alias = cf.key;
      if (cf.field->name == "__typename") {
        f.kind = ir::Field::Kind::kTypename;
        f.typename_ = type.name;
        out.push_back(std::move(f));
        continue;
      }
      const FieldDef& fd = *type.field(cf.field->name);
      LQ_TRY(args, arguments(cf, fd));
      switch (fd.role) {
        case FieldRole::kColumn:
          f.kind = ir::Field::Kind::kColumn;
          f.column = fd.column;
          f.pg_type = schema_.tables[table].table.column(fd.column)->pg_type;
          break;
        case FieldRole::kObjectRel: {
          f.kind = ir::Field::Kind::kObjectRel;
          f.join = join_of(*fd.rel);
          LQ_TRY(sel, select(fd.table, args, cf, false));
          f.select = std::make_shared<ir::Select>(std::move(sel));
          break;
        }
        case FieldRole::kArrayRel: {
          f.kind = ir::Field::Kind::kArrayRel;
          f.join = join_of(*fd.rel);
          LQ_TRY(sel, select(fd.table, args, cf, false));
          f.select = std::make_shared<ir::Select>(std::move(sel));
          break;
        }
        case FieldRole::kArrayRelAggregate: {
          f.kind = ir::Field::Kind::kAggregate;
          f.join = join_of(*fd.rel);
          LQ_TRY(agg, aggregate(fd.table, args, cf));
          f.aggregate = std::make_shared<ir::Aggregate>(std::move(agg));
          break;
        }
        default:
          return make_error(ErrorCode::kUnexpected, "unexpected field", cf.path);
      }
      out.push_back(std::move(f));
    }
    return out;
  }

  Result<ir::Aggregate> aggregate(size_t table, const json::object& args, const Collected& c) {
    const TrackedTable& tt = schema_.tables[table];
    ir::Aggregate agg;
    LQ_TRY(r, rows(table, args, c.path, false));
    agg.rows = std::move(r);
    const TypeDef& type = *rs_.type(tt.gql_name + "_aggregate");
    LQ_TRY(collected, collect(c.sets, type, c.path));
    for (const auto& cf : collected) {
      if (cf.field->name == "__typename") {
        agg.typename_alias = cf.key;
        agg.typename_ = type.name;
        continue;
      }
      if (cf.field->name == "nodes") {
        if (agg.has_nodes)
          return make_error(ErrorCode::kNotSupported,
                            "selecting 'nodes' twice under different names is not supported",
                            cf.path);
        agg.has_nodes = true;
        agg.nodes_alias = cf.key;
        LQ_TRY(fields, object_fields(table, cf));
        agg.rows.fields = std::move(fields);
        continue;
      }
      if (agg.has_aggregate)
        return make_error(ErrorCode::kNotSupported,
                          "selecting 'aggregate' twice under different names is not supported",
                          cf.path);
      agg.has_aggregate = true;
      agg.aggregate_alias = cf.key;
      const TypeDef& ftype = *rs_.type(tt.gql_name + "_aggregate_fields");
      LQ_TRY(fns, collect(cf.sets, ftype, cf.path));
      for (const auto& fn : fns) {
        ir::AggregateField af;
        af.alias = fn.key;
        if (fn.field->name == "__typename") {
          agg.aggregate_typename_alias = fn.key;
          agg.aggregate_typename_ = ftype.name;
          continue;
        }
        const FieldDef& fd = *ftype.field(fn.field->name);
        LQ_TRY(fargs, arguments(fn, fd));
        if (fd.role == FieldRole::kCount) {
          af.kind = ir::AggregateField::Kind::kCount;
          if (const json::value* cols = fargs.if_contains("columns"); cols && cols->is_array())
            for (const auto& col : cols->get_array())
              af.count_columns.push_back(*tt.postgres_column(std::string(col.get_string())));
          if (const json::value* d = fargs.if_contains("distinct"); d && d->is_bool())
            af.count_distinct = d->get_bool();
        } else {
          af.kind = ir::AggregateField::Kind::kFunction;
          af.function = fd.function;
          const TypeDef& ctype = *rs_.type(base_name(fd.type));
          LQ_TRY(cols, collect(fn.sets, ctype, fn.path));
          for (const auto& col : cols) {
            if (col.field->name == "__typename") {
              ir::Field tf;
              tf.kind = ir::Field::Kind::kTypename;
              tf.alias = col.key;
              tf.typename_ = ctype.name;
              af.typename_fields.push_back(std::move(tf));
              continue;
            }
            const FieldDef& cd = *ctype.field(col.field->name);
            af.columns.push_back({col.key, cd.column, tt.table.column(cd.column)->pg_type});
          }
        }
        agg.aggregate_fields.push_back(std::move(af));
      }
    }
    return agg;
  }

  // ---- introspection ----

  Result<json::value> intro_schema(const Collected& c) {
    const TypeDef& st = *rs_.type("__Schema");
    LQ_TRY(fields, collect(c.sets, st, c.path));
    json::object out;
    for (const auto& f : fields) {
      const std::string& n = f.field->name;
      if (n == "__typename") {
        out[f.key] = "__Schema";
      } else if (n == "description" || n == "mutationType") {
        out[f.key] = nullptr;
      } else if (n == "queryType" || n == "subscriptionType") {
        LQ_TRY(t, intro_type(named_type(n == "queryType" ? "query_root" : "subscription_root"), f));
        out[f.key] = std::move(t);
      } else if (n == "types") {
        json::array types;
        for (const auto& [name, def] : rs_.types) {
          LQ_TRY(t, intro_type(named_type(name), f));
          types.push_back(std::move(t));
        }
        out[f.key] = std::move(types);
      } else if (n == "directives") {
        json::array dirs;
        for (const char* d : {"include", "skip"}) {
          LQ_TRY(dj, intro_directive(d, f));
          dirs.push_back(std::move(dj));
        }
        out[f.key] = std::move(dirs);
      }
    }
    return json::value(std::move(out));
  }

  Result<json::value> intro_directive(const std::string& name, const Collected& c) {
    const TypeDef& dt = *rs_.type("__Directive");
    LQ_TRY(fields, collect(c.sets, dt, c.path));
    json::object out;
    InputValueDef arg{"if", non_null(named_type("Boolean")), std::nullopt,
                      name == "skip" ? "Skipped when true." : "Included when true."};
    for (const auto& f : fields) {
      const std::string& n = f.field->name;
      if (n == "__typename") {
        out[f.key] = "__Directive";
      } else if (n == "name") {
        out[f.key] = name;
      } else if (n == "description") {
        out[f.key] = name == "skip" ? "whether this query should be skipped"
                                    : "whether this query should be included";
      } else if (n == "isRepeatable") {
        out[f.key] = false;
      } else if (n == "locations") {
        out[f.key] = json::array{"FIELD", "FRAGMENT_SPREAD", "INLINE_FRAGMENT"};
      } else if (n == "args") {
        LQ_TRY(a, intro_input_value(arg, f));
        out[f.key] = json::array{std::move(a)};
      }
    }
    return json::value(std::move(out));
  }

  Result<json::value> intro_type(const gql::TypeRef& t, const Collected& c) {
    const TypeDef& tt = *rs_.type("__Type");
    LQ_TRY(fields, collect(c.sets, tt, c.path));
    const TypeDef* def = t.kind == gql::TypeRef::Kind::kNamed ? rs_.type(t.name) : nullptr;
    json::object out;
    for (const auto& f : fields) {
      const std::string& n = f.field->name;
      json::value v = nullptr;
      if (n == "__typename") {
        v = "__Type";
      } else if (n == "kind") {
        v = t.kind == gql::TypeRef::Kind::kList      ? "LIST"
            : t.kind == gql::TypeRef::Kind::kNonNull ? "NON_NULL"
                                                     : type_kind_name(def->kind);
      } else if (n == "name") {
        if (def) v = def->name;
      } else if (n == "description") {
        if (def && !def->description.empty()) v = def->description;
      } else if (n == "ofType") {
        if (t.of) {
          LQ_TRY(inner, intro_type(*t.of, f));
          v = std::move(inner);
        }
      } else if (n == "fields") {
        if (def && def->kind == TypeKind::kObject) {
          json::array a;
          for (const auto& fd : def->fields) {
            LQ_TRY(fj, intro_field(fd, f));
            a.push_back(std::move(fj));
          }
          v = std::move(a);
        }
      } else if (n == "inputFields") {
        if (def && def->kind == TypeKind::kInputObject) {
          json::array a;
          for (const auto& iv : def->input_fields) {
            LQ_TRY(ij, intro_input_value(iv, f));
            a.push_back(std::move(ij));
          }
          v = std::move(a);
        }
      } else if (n == "enumValues") {
        if (def && def->kind == TypeKind::kEnum) {
          json::array a;
          for (size_t i = 0; i < def->enum_values.size(); ++i) {
            LQ_TRY(ej, intro_enum_value(def->enum_values[i], def->enum_descriptions[i], f));
            a.push_back(std::move(ej));
          }
          v = std::move(a);
        }
      } else if (n == "interfaces") {
        if (def && def->kind == TypeKind::kObject) v = json::array();
      }
      // possibleTypes and specifiedByURL stay null: no interfaces, unions or specified scalars.
      out[f.key] = std::move(v);
    }
    return json::value(std::move(out));
  }

  Result<json::value> intro_field(const FieldDef& fd, const Collected& c) {
    const TypeDef& ft = *rs_.type("__Field");
    LQ_TRY(fields, collect(c.sets, ft, c.path));
    json::object out;
    for (const auto& f : fields) {
      const std::string& n = f.field->name;
      if (n == "__typename") {
        out[f.key] = "__Field";
      } else if (n == "name") {
        out[f.key] = fd.name;
      } else if (n == "description") {
        out[f.key] = fd.description.empty() ? json::value(nullptr) : json::value(fd.description);
      } else if (n == "isDeprecated") {
        out[f.key] = false;
      } else if (n == "deprecationReason") {
        out[f.key] = nullptr;
      } else if (n == "type") {
        LQ_TRY(t, intro_type(fd.type, f));
        out[f.key] = std::move(t);
      } else if (n == "args") {
        json::array a;
        for (const auto& iv : fd.args) {
          LQ_TRY(ij, intro_input_value(iv, f));
          a.push_back(std::move(ij));
        }
        out[f.key] = std::move(a);
      }
    }
    return json::value(std::move(out));
  }

  Result<json::value> intro_input_value(const InputValueDef& iv, const Collected& c) {
    const TypeDef& it = *rs_.type("__InputValue");
    LQ_TRY(fields, collect(c.sets, it, c.path));
    json::object out;
    for (const auto& f : fields) {
      const std::string& n = f.field->name;
      if (n == "__typename") {
        out[f.key] = "__InputValue";
      } else if (n == "name") {
        out[f.key] = iv.name;
      } else if (n == "description") {
        out[f.key] = iv.description.empty() ? json::value(nullptr) : json::value(iv.description);
      } else if (n == "defaultValue") {
        out[f.key] = iv.default_value ? json::value(*iv.default_value) : json::value(nullptr);
      } else if (n == "isDeprecated") {
        out[f.key] = false;
      } else if (n == "deprecationReason") {
        out[f.key] = nullptr;
      } else if (n == "type") {
        LQ_TRY(t, intro_type(iv.type, f));
        out[f.key] = std::move(t);
      }
    }
    return json::value(std::move(out));
  }

  Result<json::value> intro_enum_value(const std::string& name, const std::string& description,
                                       const Collected& c) {
    const TypeDef& et = *rs_.type("__EnumValue");
    LQ_TRY(fields, collect(c.sets, et, c.path));
    json::object out;
    for (const auto& f : fields) {
      const std::string& n = f.field->name;
      if (n == "__typename") {
        out[f.key] = "__EnumValue";
      } else if (n == "name") {
        out[f.key] = name;
      } else if (n == "description") {
        out[f.key] = description.empty() ? json::value(nullptr) : json::value(description);
      } else if (n == "isDeprecated") {
        out[f.key] = false;
      } else if (n == "deprecationReason") {
        out[f.key] = nullptr;
      }
    }
    return json::value(std::move(out));
  }

  static FieldDef make_schema_field() {
    FieldDef f;
    f.name = "__schema";
    f.type = non_null(named_type("__Schema"));
    f.role = FieldRole::kSchema;
    return f;
  }
  static FieldDef make_type_field() {
    FieldDef f;
    f.name = "__type";
    f.type = named_type("__Type");
    f.role = FieldRole::kType;
    f.args = {InputValueDef{"name", non_null(named_type("String")), std::nullopt, ""}};
    return f;
  }

  const Schema& schema_;
  const RoleSchema& rs_;
  const Request& req_;
  const Session& session_;
  const Limits& limits_;
  gql::Document doc_;
  const gql::OperationDefinition* op_ = nullptr;
  detail::FragmentIndex fragments_;
  std::map<std::string, VarInfo> vars_;
  bool in_default_ = false;
  CompiledOperation out_;
  ParamSink params_{out_.vars};
  FieldDef schema_field_ = make_schema_field();
  FieldDef type_field_ = make_type_field();
};

}  // namespace

Result<CompiledOperation> compile(const Schema& schema, const Request& request,
                                  const Session& session, const Limits& limits) {
  std::string role = session.is_admin && session.role.empty() ? "admin" : session.role;
  if (const RoleSchema* rs = schema.role(role))
    return Compiler(schema, *rs, request, session, limits).run();
  // A role without permissions sees an empty schema, as in Hasura.
  RoleSchema empty = build_role_schema(schema, role);
  return Compiler(schema, empty, request, session, limits).run();
}

}  // namespace liveql::compiler

// Input coercion: GraphQL literals and JSON variable values against an input type (scalars,
// enums, input objects, lists with Hasura's single-value lifting), and the spec's rule on
// where a variable may be used.
#include <fmt/format.h>

#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <limits>
#include <utility>

#include "schema/compile_stages.hpp"
#include "schema/ltree.hpp"

namespace liveql::compiler::detail {

namespace json = boost::json;

namespace {

// An integer's decimal text as Haskell's Scientific shows a number of 8 digits or more
// ("2147483648" -> "2.147483648e9", "-3000000000" -> "-3.0e9"), shorter ones as they are.
std::string scientific_text(std::string_view digits) {
  std::string sign;
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
    if (digits[0] == '-') sign = "-";
    digits.remove_prefix(1);
  }
  while (digits.size() > 1 && digits[0] == '0') digits.remove_prefix(1);
  if (digits.size() <= 7) return sign + std::string(digits);
  std::string_view mantissa = digits;
  while (mantissa.size() > 1 && mantissa.back() == '0') mantissa.remove_suffix(1);
  std::string out = sign + std::string(1, mantissa[0]) + ".";
  out += mantissa.size() > 1 ? std::string(mantissa.substr(1)) : "0";
  return out + "e" + std::to_string(digits.size() - 1);
}

// Hasura's answer to an Int outside 32 bits (the JSON decoder's words): parse-failed.
Error int_out_of_bounds(const std::string& shown, const std::string& path) {
  return make_error(ErrorCode::kParseFailed,
                    "The value " + shown +
                        " lies outside the bounds or is not an integer.  Maybe it is a float, "
                        "or is there integer overflow?",
                    path);
}

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

// Hasura's wording for a value an enum does not have: "a, b, or c".
std::string one_of(const std::vector<std::string>& values) {
  if (values.size() <= 2) return fmt::format("{}", fmt::join(values, " or "));
  return fmt::format("{}, or {}", fmt::join(values.begin(), values.end() - 1, ", "), values.back());
}

Error not_enum_value(const TypeDef& d, const std::string& found, const std::string& path) {
  return invalid(fmt::format("expected one of the values {} for type \"{}\", but found \"{}\"",
                             one_of(d.enum_values), d.name, found),
                 path);
}

// Hasura's offset as a string: decimal digits only (no sign).
bool is_digits(std::string_view s) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

bool is_json_scalar(const std::string& s) { return s == "json" || s == "jsonb"; }
bool is_decimal_scalar(const std::string& s) { return s == "numeric" || s == "money"; }
// PostGIS scalars take GeoJSON objects; where they are used, the GeoJSON is checked.
bool is_geojson_scalar(const std::string& s) { return s == "geometry" || s == "geography"; }

}  // namespace

// Inner nullability is not compared, as in Hasura (Postgres rejects what does not fit).
bool OperationCompiler::same_shape(const gql::TypeRef& a, const gql::TypeRef& b) {
  const gql::TypeRef& x = strip(a);
  const gql::TypeRef& y = strip(b);
  if (x.kind == gql::TypeRef::Kind::kList && y.kind == gql::TypeRef::Kind::kList)
    return same_shape(*x.of, *y.of);
  if (x.kind == gql::TypeRef::Kind::kNamed && y.kind == gql::TypeRef::Kind::kNamed)
    return x.name == y.name;
  return false;
}

// GraphQL spec "All Variable Usages Are Allowed", with Hasura's default-value allowance.
bool OperationCompiler::usage_allowed(const gql::TypeRef& location, bool location_has_default,
                                      const VarInfo& var) {
  const gql::TypeRef& vt = var.def->type;
  bool var_default =
      var.def->default_value && var.def->default_value->kind != gql::Value::Kind::kNull;
  if (!nullable(location) && nullable(vt) && !location_has_default && !var_default) return false;
  return same_shape(location, vt);
}

// nullopt: a variable that was not provided (the input field or argument is then absent).
Result<std::optional<json::value>> OperationCompiler::coerce_literal(const gql::Value& v,
                                                                     const gql::TypeRef& t,
                                                                     const std::string& path,
                                                                     bool location_has_default) {
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
      const auto outer = std::exchange(parsing_, f->parsing);
      auto c_r = coerce_literal(fv, f->type, path + "." + name, f->default_value.has_value());
      parsing_ = outer;
      if (!c_r) return c_r.take_error();
      auto& c = *c_r;
      if (c) out[name] = std::move(*c);
    }
    if (auto s = check_required(*d, out, path); !s) return s.take_error();
    return std::optional<json::value>(std::move(out));
  }
  if (d->kind == TypeKind::kEnum) {
    if (v.kind != gql::Value::Kind::kEnum)
      return invalid(
          fmt::format("expected an enum value for type \"{}\", but found {}", d->name, describe(v)),
          path);
    if (std::find(d->enum_values.begin(), d->enum_values.end(), v.text) == d->enum_values.end())
      return not_enum_value(*d, v.text, path);
    return std::optional<json::value>(json::value(v.text));
  }
  LQ_TRY(s, scalar_literal(v, d->name, path));
  return std::optional<json::value>(std::move(s));
}

Status OperationCompiler::check_required(const TypeDef& d, const json::object& given,
                                         const std::string& path) {
  for (const auto& f : d.input_fields)
    if (!nullable(f.type) && !f.default_value && !given.contains(f.name))
      return invalid(fmt::format("missing required field '{}'", f.name), path);
  return Ok{};
}

json::value OperationCompiler::literal_to_json(const gql::Value& v) {
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

Result<json::value> OperationCompiler::scalar_literal(const gql::Value& v,
                                                      const std::string& scalar,
                                                      const std::string& path) {
  auto mismatch = [&](const char* expected) {
    return invalid(
        fmt::format("expected {} for type '{}', but found {}", expected, scalar, describe(v)),
        path);
  };
  // A column value's string goes to PostgreSQL as text, as Hasura passes it.
  const bool column_value = parsing_ == InputValueDef::Parsing::kColumnValue;
  if (column_value && v.kind == gql::Value::Kind::kString &&
      (scalar == "Int" || scalar == "Float" || scalar == "Boolean"))
    return json::value(v.text);
  if (scalar == "Int" && parsing_ == InputValueDef::Parsing::kBigInt) {
    if (v.kind == gql::Value::Kind::kString && is_digits(v.text)) return json::value(v.text);
    int64_t i = 0;
    auto [p, ec] = std::from_chars(v.text.data(), v.text.data() + v.text.size(), i);
    if (v.kind == gql::Value::Kind::kInt && ec == std::errc() && p == v.text.data() + v.text.size())
      return json::value(i);
    if (v.kind == gql::Value::Kind::kInt) return int_out_of_bounds(scientific_text(v.text), path);
    return mismatch("a 32-bit integer, or a 64-bit integer represented as a string");
  }
  if (scalar == "Int") {
    if (v.kind != gql::Value::Kind::kInt) return mismatch("a 32-bit integer");
    int64_t i = 0;
    auto [p, ec] = std::from_chars(v.text.data(), v.text.data() + v.text.size(), i);
    if (ec != std::errc() || i < std::numeric_limits<int32_t>::min() ||
        i > std::numeric_limits<int32_t>::max())
      return int_out_of_bounds(scientific_text(v.text), path);
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
  if (is_json_scalar(scalar) || is_geojson_scalar(scalar)) return literal_to_json(v);
  if (ltree::is_ltree_scalar(scalar)) {
    json::value value = literal_to_json(v);
    if (auto checked = ltree::check_value(scalar, value, path); !checked)
      return checked.take_error();
    return value;
  }
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

Result<json::value> OperationCompiler::coerce_json(const json::value& v, const gql::TypeRef& t,
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
      const auto outer = std::exchange(parsing_, f->parsing);
      auto c = coerce_json(kv.value(), f->type, path + "." + name);
      parsing_ = outer;
      if (!c) return c.take_error();
      out[name] = std::move(*c);
    }
    if (auto s = check_required(*d, out, path); !s) return s.take_error();
    return json::value(std::move(out));
  }
  if (d->kind == TypeKind::kEnum) {
    if (!v.is_string())
      return invalid(
          fmt::format("expected an enum value for type \"{}\", but found {}", d->name, describe(v)),
          path);
    std::string s(v.get_string());
    if (std::find(d->enum_values.begin(), d->enum_values.end(), s) == d->enum_values.end())
      return not_enum_value(*d, s, path);
    return v;
  }
  const std::string& s = d->name;
  if (parsing_ == InputValueDef::Parsing::kColumnValue && v.is_string() &&
      (s == "Int" || s == "Float" || s == "Boolean"))
    return v;
  if (s == "Int" && parsing_ == InputValueDef::Parsing::kBigInt) {
    if (v.is_string() && is_digits(v.get_string())) return v;
    if (v.is_int64()) return v;
    if (v.is_uint64() && v.get_uint64() <= static_cast<uint64_t>(INT64_MAX))
      return json::value(static_cast<int64_t>(v.get_uint64()));
    return mismatch("a 32-bit integer, or a 64-bit integer represented as a string");
  }
  if (s == "Int") {
    int64_t i = 0;
    if (v.is_int64()) {
      i = v.get_int64();
    } else if (v.is_uint64() && v.get_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
      i = static_cast<int64_t>(v.get_uint64());
    } else if (v.is_double() && std::trunc(v.get_double()) == v.get_double() &&
               std::abs(v.get_double()) < 1e10) {
      i = static_cast<int64_t>(v.get_double());
    } else if (v.is_uint64()) {
      return int_out_of_bounds(scientific_text(std::to_string(v.get_uint64())), path);
    } else if (v.is_double()) {
      return int_out_of_bounds(fmt::format("{}", v.get_double()), path);
    } else {
      return mismatch("a 32-bit integer");
    }
    if (i < std::numeric_limits<int32_t>::min() || i > std::numeric_limits<int32_t>::max())
      return int_out_of_bounds(scientific_text(std::to_string(i)), path);
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
  if (is_json_scalar(s) || is_geojson_scalar(s)) return v;
  if (auto checked = ltree::check_value(s, v, path); !checked) return checked.take_error();
  if (v.is_object()) return mismatch("a scalar value");
  return v;
}

}  // namespace liveql::compiler::detail

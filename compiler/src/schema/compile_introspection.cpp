// Introspection answers (__schema, __type and the types they reach), selected like any other
// field so that fragments, aliases and @skip/@include apply; the result is static data.
#include <fmt/format.h>

#include <boost/json.hpp>

#include "schema/compile_stages.hpp"

namespace liveql::compiler::detail {

namespace json = boost::json;

namespace {

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

}  // namespace

Result<json::value> OperationCompiler::intro_schema(const Collected& c) {
  const TypeDef& st = *rs_.type("__Schema");
  LQ_TRY(fields, collect(c.sets, st, c.path));
  json::object out;
  for (const auto& f : fields) {
    const std::string& n = f.field->name;
    if (n == "__typename") {
      out[f.key] = "__Schema";
    } else if (n == "description") {
      out[f.key] = nullptr;
    } else if (n == "mutationType" || n == "subscriptionType") {
      // mutation_root exists only when the role can write something, subscription_root when it
      // can read something.
      const char* root = n == "mutationType" ? "mutation_root" : "subscription_root";
      if (rs_.type(root)) {
        LQ_TRY(t, intro_type(named_type(root), f));
        out[f.key] = std::move(t);
      } else {
        out[f.key] = nullptr;
      }
    } else if (n == "queryType") {
      LQ_TRY(t, intro_type(named_type("query_root"), f));
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

Result<json::value> OperationCompiler::intro_directive(const std::string& name,
                                                       const Collected& c) {
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

Result<json::value> OperationCompiler::intro_type(const gql::TypeRef& t, const Collected& c) {
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
      if (def && (def->kind == TypeKind::kObject || def->kind == TypeKind::kInterface)) {
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
      if (def && def->kind == TypeKind::kObject) {
        json::array a;
        for (const auto& i : def->interfaces) {
          LQ_TRY(ij, intro_type(named_type(i), f));
          a.push_back(std::move(ij));
        }
        v = std::move(a);
      }
    } else if (n == "possibleTypes") {
      if (def && def->kind == TypeKind::kInterface) {
        json::array a;
        for (const auto& p : def->possible_types) {
          LQ_TRY(pj, intro_type(named_type(p), f));
          a.push_back(std::move(pj));
        }
        v = std::move(a);
      }
    }
    // specifiedByURL stays null: no specified scalars.
    out[f.key] = std::move(v);
  }
  return json::value(std::move(out));
}

Result<json::value> OperationCompiler::intro_field(const FieldDef& fd, const Collected& c) {
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

Result<json::value> OperationCompiler::intro_input_value(const InputValueDef& iv,
                                                         const Collected& c) {
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

Result<json::value> OperationCompiler::intro_enum_value(const std::string& name,
                                                        const std::string& description,
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

FieldDef OperationCompiler::make_schema_field() {
  FieldDef f;
  f.name = "__schema";
  f.type = non_null(named_type("__Schema"));
  f.role = FieldRole::kSchema;
  return f;
}
FieldDef OperationCompiler::make_type_field() {
  FieldDef f;
  f.name = "__type";
  f.type = named_type("__Type");
  f.role = FieldRole::kType;
  f.args = {InputValueDef{"name", non_null(named_type("String")), std::nullopt, ""}};
  return f;
}

}  // namespace liveql::compiler::detail

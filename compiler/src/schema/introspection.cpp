// The introspection types of the GraphQL spec (October 2021), added to every role's type system
// so that introspection queries are validated like any other selection.
#include "schema/schema.hpp"

namespace liveql::compiler {

namespace {

FieldDef f(std::string name, gql::TypeRef type, std::vector<InputValueDef> args = {}) {
  FieldDef d;
  d.name = std::move(name);
  d.type = std::move(type);
  d.args = std::move(args);
  return d;
}

gql::TypeRef t(const char* name) { return named_type(name); }
gql::TypeRef nn(const char* name) { return non_null(named_type(name)); }
gql::TypeRef nn_list(const char* name) { return non_null(list_of(nn(name))); }

std::vector<InputValueDef> include_deprecated() {
  return {InputValueDef{"includeDeprecated", t("Boolean"), "false", ""}};
}

}  // namespace

void add_introspection_types(RoleSchema& rs) {
  auto add = [&](TypeDef d) { rs.types.emplace(d.name, std::move(d)); };
  TypeDef schema{TypeKind::kObject, "__Schema"};
  schema.fields = {f("description", t("String")),      f("directives", nn_list("__Directive")),
                   f("mutationType", t("__Type")),     f("queryType", nn("__Type")),
                   f("subscriptionType", t("__Type")), f("types", nn_list("__Type"))};
  add(std::move(schema));
  TypeDef type{TypeKind::kObject, "__Type"};
  type.fields = {f("description", t("String")),
                 f("enumValues", list_of(nn("__EnumValue")), include_deprecated()),
                 f("fields", list_of(nn("__Field")), include_deprecated()),
                 f("inputFields", list_of(nn("__InputValue")), include_deprecated()),
                 f("interfaces", list_of(nn("__Type"))),
                 f("kind", nn("__TypeKind")),
                 f("name", t("String")),
                 f("ofType", t("__Type")),
                 f("possibleTypes", list_of(nn("__Type"))),
                 f("specifiedByURL", t("String"))};
  add(std::move(type));
  TypeDef field{TypeKind::kObject, "__Field"};
  field.fields = {f("args", nn_list("__InputValue"), include_deprecated()),
                  f("deprecationReason", t("String")),
                  f("description", t("String")),
                  f("isDeprecated", nn("Boolean")),
                  f("name", nn("String")),
                  f("type", nn("__Type"))};
  add(std::move(field));
  TypeDef input{TypeKind::kObject, "__InputValue"};
  input.fields = {f("defaultValue", t("String")), f("deprecationReason", t("String")),
                  f("description", t("String")),  f("isDeprecated", nn("Boolean")),
                  f("name", nn("String")),        f("type", nn("__Type"))};
  add(std::move(input));
  TypeDef enum_value{TypeKind::kObject, "__EnumValue"};
  enum_value.fields = {f("deprecationReason", t("String")), f("description", t("String")),
                       f("isDeprecated", nn("Boolean")), f("name", nn("String"))};
  add(std::move(enum_value));
  TypeDef directive{TypeKind::kObject, "__Directive"};
  directive.fields = {f("args", nn_list("__InputValue"), include_deprecated()),
                      f("description", t("String")), f("isRepeatable", nn("Boolean")),
                      f("locations", nn_list("__DirectiveLocation")), f("name", nn("String"))};
  add(std::move(directive));
  TypeDef kind{TypeKind::kEnum, "__TypeKind"};
  kind.enum_values = {"SCALAR", "OBJECT",       "INTERFACE", "UNION",
                      "ENUM",   "INPUT_OBJECT", "LIST",      "NON_NULL"};
  kind.enum_descriptions.assign(kind.enum_values.size(), "");
  add(std::move(kind));
  TypeDef loc{TypeKind::kEnum, "__DirectiveLocation"};
  loc.enum_values = {"QUERY",
                     "MUTATION",
                     "SUBSCRIPTION",
                     "FIELD",
                     "FRAGMENT_DEFINITION",
                     "FRAGMENT_SPREAD",
                     "INLINE_FRAGMENT",
                     "VARIABLE_DEFINITION",
                     "SCHEMA",
                     "SCALAR",
                     "OBJECT",
                     "FIELD_DEFINITION",
                     "ARGUMENT_DEFINITION",
                     "INTERFACE",
                     "UNION",
                     "ENUM",
                     "ENUM_VALUE",
                     "INPUT_OBJECT",
                     "INPUT_FIELD_DEFINITION"};
  loc.enum_descriptions.assign(loc.enum_values.size(), "");
  add(std::move(loc));
}

}  // namespace liveql::compiler

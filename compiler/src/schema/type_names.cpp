#include "schema/type_names.hpp"

#include <memory>
#include <utility>

namespace liveql::compiler {

namespace {

bool renamed_kind(const TypeDef& t) {
  if (t.kind == TypeKind::kScalar || t.name.rfind("__", 0) == 0) return false;
  return t.name != "query_root" && t.name != "mutation_root" && t.name != "subscription_root";
}

class Renamer {
 public:
  explicit Renamer(const std::map<std::string, std::string>& names) : names_(names) {}

  const std::string& name(const std::string& n) const {
    auto it = names_.find(n);
    return it == names_.end() ? n : it->second;
  }

  // A fresh tree: the `of` nodes of type references are shared between copies, so they are
  // rebuilt rather than renamed in place.
  gql::TypeRef type(const gql::TypeRef& t) const {
    gql::TypeRef out;
    out.kind = t.kind;
    out.loc = t.loc;
    if (t.kind == gql::TypeRef::Kind::kNamed) {
      out.name = name(t.name);
    } else if (t.of) {
      out.of = std::make_shared<gql::TypeRef>(type(*t.of));
    }
    return out;
  }

 private:
  const std::map<std::string, std::string>& names_;
};

}  // namespace

void customize_type_names(RoleSchema& rs, const metadata::SourceCustomization& customization) {
  if (customization.type_prefix.empty() && customization.type_suffix.empty() &&
      customization.type_mapping.empty())
    return;
  std::map<std::string, std::string> names;
  for (const auto& [name, t] : rs.types) {
    if (!renamed_kind(t)) continue;
    auto mapped = customization.type_mapping.find(name);
    names[name] = mapped != customization.type_mapping.end()
                      ? mapped->second
                      : customization.type_prefix + name + customization.type_suffix;
  }
  Renamer r(names);
  std::map<std::string, TypeDef> types;
  for (auto& [name, t] : rs.types) {
    t.name = r.name(t.name);
    for (auto& f : t.fields) {
      f.type = r.type(f.type);
      for (auto& a : f.args) a.type = r.type(a.type);
    }
    for (auto& v : t.input_fields) v.type = r.type(v.type);
    for (auto& i : t.interfaces) i = r.name(i);
    for (auto& p : t.possible_types) p = r.name(p);
    t.scalar = r.name(t.scalar);  // a comparison over an enum table's enum
    std::string key = t.name;
    types.emplace(std::move(key), std::move(t));
  }
  rs.types = std::move(types);
  rs.renamed_types = std::move(names);
}

}  // namespace liveql::compiler

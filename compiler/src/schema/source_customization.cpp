#include "schema/source_customization.hpp"

#include <algorithm>
#include <utility>

namespace liveql::compiler {

namespace {

bool is_table_field(const FieldDef& f) {
  return f.role != FieldRole::kSchema && f.role != FieldRole::kType &&
         f.role != FieldRole::kPlaceholder && f.role != FieldRole::kNamespace &&
         f.name.rfind("__", 0) != 0;
}

}  // namespace

void customize_root_fields(RoleSchema& rs, const metadata::SourceCustomization& customization) {
  if (!customization.root_namespace && customization.root_prefix.empty() &&
      customization.root_suffix.empty())
    return;
  const std::pair<const char*, const char*> roots[] = {{"query_root", "_query"},
                                                       {"subscription_root", "_subscription"},
                                                       {"mutation_root", "_mutation_frontend"}};
  for (const auto& [root_name, ns_suffix] : roots) {
    auto it = rs.types.find(root_name);
    if (it == rs.types.end()) continue;
    TypeDef& root = it->second;
    for (auto& f : root.fields)
      if (is_table_field(f))
        f.name = customization.root_prefix + f.name + customization.root_suffix;
    if (!customization.root_namespace || *ns_suffix == '\0') continue;
    const std::string& ns = *customization.root_namespace;
    TypeDef inner{TypeKind::kObject, ns + ns_suffix};
    std::vector<FieldDef> kept;
    for (auto& f : root.fields) (is_table_field(f) ? inner.fields : kept).push_back(std::move(f));
    if (inner.fields.empty()) {
      root.fields = std::move(kept);
      continue;
    }
    FieldDef field;
    field.name = ns;
    field.type = non_null(named_type(inner.name));
    field.role = FieldRole::kNamespace;
    kept.push_back(std::move(field));
    std::sort(kept.begin(), kept.end(),
              [](const FieldDef& a, const FieldDef& b) { return a.name < b.name; });
    root.fields = std::move(kept);
    std::string name = inner.name;
    rs.types.emplace(std::move(name), std::move(inner));
  }
}

}  // namespace liveql::compiler

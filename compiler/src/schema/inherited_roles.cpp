#include "schema/inherited_roles.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <functional>
#include <map>
#include <optional>
#include <set>

namespace liveql::compiler {

namespace json = boost::json;

namespace {

using Roles = std::map<std::string, const metadata::InheritedRole*>;

json::value or_filter(const std::vector<json::value>& parts) {
  if (parts.size() == 1) return parts.front();
  json::array a(parts.begin(), parts.end());
  return json::object{{"_or", std::move(a)}};
}

json::value filter_or_true(const json::value& f) {
  return f.is_null() ? json::value(json::object()) : f;
}

std::set<std::string> column_set(const std::vector<std::string>& cols) {
  return {cols.begin(), cols.end()};
}

bool same_presets(const std::vector<metadata::ColumnPreset>& a,
                  const std::vector<metadata::ColumnPreset>& b) {
  auto key = [](const std::vector<metadata::ColumnPreset>& ps) {
    std::map<std::string, std::pair<json::value, std::string>> m;
    for (const auto& p : ps) m[p.column] = {p.value, p.session_variable.value_or("")};
    return m;
  };
  return key(a) == key(b);
}

bool same(const metadata::InsertPermission& a, const metadata::InsertPermission& b) {
  return filter_or_true(a.check) == filter_or_true(b.check) && a.all_columns == b.all_columns &&
         column_set(a.columns) == column_set(b.columns) && same_presets(a.set, b.set) &&
         a.backend_only == b.backend_only;
}

bool same(const metadata::UpdatePermission& a, const metadata::UpdatePermission& b) {
  return filter_or_true(a.filter) == filter_or_true(b.filter) &&
         filter_or_true(a.check) == filter_or_true(b.check) && a.all_columns == b.all_columns &&
         column_set(a.columns) == column_set(b.columns) && same_presets(a.set, b.set) &&
         a.backend_only == b.backend_only;
}

bool same(const metadata::DeletePermission& a, const metadata::DeletePermission& b) {
  return filter_or_true(a.filter) == filter_or_true(b.filter) && a.backend_only == b.backend_only;
}

class Resolver {
 public:
  Resolver(const Roles& roles, TrackedTable& tt) : roles_(roles), tt_(tt) {}

  // The role's select permission on the table: its own, else derived from its parents'.
  std::optional<metadata::SelectPermission> select(const std::string& role) {
    for (const auto& p : tt_.meta.select_permissions)
      if (p.role == role) return normalized(p);
    auto it = roles_.find(role);
    if (it == roles_.end()) return std::nullopt;
    std::vector<metadata::SelectPermission> parents;
    for (const auto& parent : it->second->role_set)
      if (auto p = select(parent)) parents.push_back(std::move(*p));
    if (parents.empty()) return std::nullopt;
    return combine(role, parents);
  }

  // Insert, update, delete: the parents' permission when they agree.
  template <typename P>
  std::optional<P> write(const std::vector<P> metadata::TableMetadata::*list,
                         const std::string& role) {
    for (const auto& p : tt_.meta.*list)
      if (p.role == role) return p;
    auto it = roles_.find(role);
    if (it == roles_.end()) return std::nullopt;
    std::optional<P> agreed;
    for (const auto& parent : it->second->role_set) {
      auto p = write(list, parent);
      if (!p) continue;
      if (agreed && !same(*agreed, *p)) return std::nullopt;
      if (!agreed) agreed = std::move(p);
    }
    if (agreed) agreed->role = role;
    return agreed;
  }

 private:
  // Columns as Postgres names in table order, "*" spelled out.
  metadata::SelectPermission normalized(const metadata::SelectPermission& p) const {
    metadata::SelectPermission out = p;
    out.filter = filter_or_true(p.filter);
    std::set<std::string> named;
    for (const auto& c : p.columns) {
      if (tt_.table.column(c)) {
        named.insert(c);
      } else if (const std::string* pg = tt_.postgres_column(c)) {
        named.insert(*pg);
      }
    }
    out.all_columns = false;
    out.columns.clear();
    for (const auto& c : tt_.table.columns)
      if (p.all_columns || named.count(c.name)) out.columns.push_back(c.name);
    return out;
  }

  // Adds `name` (a column, or a computed field) to out's `list`; unless every parent shows it in
  // every row it shows, also its cell filter: the OR of the allowing parents' row (or cell)
  // filters, so that it is NULL in the rows only other parents show.
  static void cell(const std::string& name,
                   std::vector<std::string> metadata::SelectPermission::*list,
                   const std::vector<metadata::SelectPermission>& parents,
                   metadata::SelectPermission& out) {
    (out.*list).push_back(name);
    std::vector<json::value> allowing;
    bool everywhere = true;
    for (const auto& p : parents) {
      if (std::find((p.*list).begin(), (p.*list).end(), name) == (p.*list).end()) {
        everywhere = false;
        continue;
      }
      auto cf = p.column_filters.find(name);
      if (cf != p.column_filters.end()) {
        everywhere = false;
        allowing.push_back(cf->second);
      } else {
        allowing.push_back(p.filter);
      }
    }
    if (!everywhere) out.column_filters[name] = or_filter(allowing);
  }

  metadata::SelectPermission combine(const std::string& role,
                                     const std::vector<metadata::SelectPermission>& parents) {
    metadata::SelectPermission out;
    out.role = role;
    std::vector<json::value> filters;
    std::set<std::string> all;
    for (const auto& p : parents) {
      filters.push_back(p.filter);
      all.insert(p.columns.begin(), p.columns.end());
      if (p.limit && (!out.limit || *p.limit > *out.limit)) out.limit = p.limit;
      out.allow_aggregations = out.allow_aggregations || p.allow_aggregations;
    }
    out.filter = or_filter(filters);
    for (const auto& c : tt_.table.columns)
      if (all.count(c.name)) cell(c.name, &metadata::SelectPermission::columns, parents, out);
    // Scalar computed fields likewise (Projection::ref_call takes the same cell filter).
    std::set<std::string> fields;
    for (const auto& p : parents) fields.insert(p.computed_fields.begin(), p.computed_fields.end());
    for (const auto& name : fields)
      cell(name, &metadata::SelectPermission::computed_fields, parents, out);
    return out;
  }

  const Roles& roles_;
  TrackedTable& tt_;
};

}  // namespace

Status check_inherited_roles(const std::vector<metadata::InheritedRole>& roles) {
  Roles by_name;
  for (const auto& r : roles) by_name[r.role_name] = &r;
  // Depth-first from every role: a parent already on the path closes a cycle.
  std::vector<std::string> path;
  std::function<Status(const std::string&)> visit = [&](const std::string& role) -> Status {
    if (std::find(path.begin(), path.end(), role) != path.end()) {
      path.push_back(role);
      return make_error(ErrorCode::kValidationFailed,
                        fmt::format("inconsistent metadata: found cycle(s) in roles: [{}]",
                                    fmt::join(path, ",")));
    }
    auto it = by_name.find(role);
    if (it == by_name.end()) return Ok{};
    path.push_back(role);
    for (const auto& parent : it->second->role_set)
      if (auto s = visit(parent); !s) return s;
    path.pop_back();
    return Ok{};
  };
  for (const auto& r : roles)
    if (auto s = visit(r.role_name); !s) return s;
  return Ok{};
}

void add_inherited_permissions(const std::vector<metadata::InheritedRole>& roles,
                               TrackedTable& tt) {
  if (roles.empty()) return;
  Roles by_name;
  for (const auto& r : roles) by_name[r.role_name] = &r;
  Resolver resolver(by_name, tt);
  // Derived all at once, so that a role's derivation reads only explicit permissions and its
  // parents' derivations (recomputed), never another derived one appended meanwhile.
  std::vector<metadata::SelectPermission> selects;
  std::vector<metadata::InsertPermission> inserts;
  std::vector<metadata::UpdatePermission> updates;
  std::vector<metadata::DeletePermission> deletes;
  auto has = [](const auto& list, const std::string& role) {
    return std::any_of(list.begin(), list.end(), [&](const auto& p) { return p.role == role; });
  };
  for (const auto& r : roles) {
    const std::string& role = r.role_name;
    if (!has(tt.meta.select_permissions, role))
      if (auto p = resolver.select(role)) selects.push_back(std::move(*p));
    if (!has(tt.meta.insert_permissions, role))
      if (auto p = resolver.write(&metadata::TableMetadata::insert_permissions, role))
        inserts.push_back(std::move(*p));
    if (!has(tt.meta.update_permissions, role))
      if (auto p = resolver.write(&metadata::TableMetadata::update_permissions, role))
        updates.push_back(std::move(*p));
    if (!has(tt.meta.delete_permissions, role))
      if (auto p = resolver.write(&metadata::TableMetadata::delete_permissions, role))
        deletes.push_back(std::move(*p));
  }
  auto append = [](auto& to, auto& from) {
    for (auto& p : from) to.push_back(std::move(p));
  };
  append(tt.meta.select_permissions, selects);
  append(tt.meta.insert_permissions, inserts);
  append(tt.meta.update_permissions, updates);
  append(tt.meta.delete_permissions, deletes);
}

}  // namespace liveql::compiler

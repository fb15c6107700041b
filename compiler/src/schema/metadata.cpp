#include "liveql/compiler/metadata.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>
#include <cctype>
#include <cerrno>
#include <cstdlib>

namespace liveql::metadata {

namespace json = boost::json;

namespace {

Error bad(std::string message, const std::string& path) {
  return make_error(ErrorCode::kParseFailed, "invalid metadata: " + std::move(message), path);
}

// YAML plain scalars get YAML 1.2 core-schema typing; quoted scalars (tag "!") stay strings,
// which is also how yaml-cpp reports JSON strings.
json::value scalar_to_json(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() != "?") return json::value(s);
  if (s == "null" || s == "Null" || s == "NULL" || s == "~" || s.empty()) return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  char* end = nullptr;
  errno = 0;
  long long i = std::strtoll(s.c_str(), &end, 10);
  if (errno == 0 && end && *end == '\0') return static_cast<int64_t>(i);
  errno = 0;
  double d = std::strtod(s.c_str(), &end);
  if (errno == 0 && end && *end == '\0' && s.find_first_of("0123456789") != std::string::npos)
    return d;
  return json::value(s);
}

json::value to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      return scalar_to_json(n);
    case YAML::NodeType::Sequence: {
      json::array a;
      for (const auto& e : n) a.push_back(to_json(e));
      return a;
    }
    case YAML::NodeType::Map: {
      json::object o;
      for (const auto& kv : n) o[kv.first.as<std::string>()] = to_json(kv.second);
      return o;
    }
  }
  return nullptr;
}

Result<json::value> load(std::string_view text) {
  try {
    YAML::Node root = YAML::Load(std::string(text));
    return to_json(root);
  } catch (const YAML::Exception& e) {
    return bad(std::string("not YAML/JSON: ") + e.what(), "$");
  }
}

Result<std::string> string_at(const json::value& v, const std::string& path) {
  if (!v.is_string()) return bad("expected a string", path);
  return std::string(v.get_string());
}

Result<catalog::QualifiedName> table_name(const json::value& v, const std::string& path) {
  if (v.is_string()) return catalog::QualifiedName{"public", std::string(v.get_string())};
  if (!v.is_object()) return bad("expected a table name {schema, name}", path);
  const auto& o = v.get_object();
  catalog::QualifiedName q;
  const json::value* name = o.if_contains("name");
  if (!name) return bad("missing key \"name\"", path);
  auto n = string_at(*name, path + ".name");
  if (!n) return n.take_error();
  q.name = *n;
  if (const json::value* s = o.if_contains("schema")) {
    auto sv = string_at(*s, path + ".schema");
    if (!sv) return sv.take_error();
    q.schema = *sv;
  }
  return q;
}

Result<std::vector<std::string>> string_list(const json::value& v, const std::string& path) {
  std::vector<std::string> out;
  if (v.is_string()) {
    out.emplace_back(v.get_string());
    return out;
  }
  if (!v.is_array()) return bad("expected a column name or a list of column names", path);
  size_t i = 0;
  for (const auto& e : v.get_array()) {
    auto s = string_at(e, fmt::format("{}[{}]", path, i++));
    if (!s) return s.take_error();
    out.push_back(*s);
  }
  return out;
}

// {column: c} | {columns: [..]} inside foreign_key_constraint_on.
Result<std::vector<std::string>> fk_columns_of(const json::object& o, const std::string& path) {
  if (const json::value* c = o.if_contains("column")) return string_list(*c, path + ".column");
  if (const json::value* c = o.if_contains("columns")) return string_list(*c, path + ".columns");
  return bad("expected \"column\" or \"columns\"", path);
}

struct Manual {
  catalog::QualifiedName remote_table;
  std::vector<std::pair<std::string, std::string>> mapping;
};

Result<Manual> manual_of(const json::value& v, const std::string& path) {
  if (!v.is_object()) return bad("expected an object", path);
  const auto& o = v.get_object();
  Manual m;
  const json::value* rt = o.if_contains("remote_table");
  if (!rt) return bad("missing key \"remote_table\"", path);
  auto t = table_name(*rt, path + ".remote_table");
  if (!t) return t.take_error();
  m.remote_table = *t;
  const json::value* cm = o.if_contains("column_mapping");
  if (!cm || !cm->is_object() || cm->get_object().empty())
    return bad("expected a non-empty object \"column_mapping\"", path + ".column_mapping");
  for (const auto& kv : cm->get_object()) {
    auto remote = string_at(kv.value(), path + ".column_mapping." + std::string(kv.key()));
    if (!remote) return remote.take_error();
    m.mapping.emplace_back(std::string(kv.key()), *remote);
  }
  return m;
}

Result<const json::object*> using_of(const json::object& rel, const std::string& path) {
  const json::value* u = rel.if_contains("using");
  if (!u || !u->is_object()) return bad("expected an object \"using\"", path + ".using");
  return &u->get_object();
}

Result<std::string> rel_name(const json::object& rel, const std::string& path) {
  const json::value* n = rel.if_contains("name");
  if (!n) return bad("missing key \"name\"", path);
  return string_at(*n, path + ".name");
}

Result<ObjectRelationship> object_rel(const json::value& v, const std::string& path) {
  if (!v.is_object()) return bad("expected an object", path);
  ObjectRelationship r;
  auto name = rel_name(v.get_object(), path);
  if (!name) return name.take_error();
  r.name = *name;
  auto u = using_of(v.get_object(), path);
  if (!u) return u.take_error();
  std::string upath = path + ".using";
  if (const json::value* fk = (*u)->if_contains("foreign_key_constraint_on")) {
    std::string fpath = upath + ".foreign_key_constraint_on";
    if (fk->is_object()) {
      const auto& fo = fk->get_object();
      auto cols = fk_columns_of(fo, fpath);
      if (!cols) return cols.take_error();
      r.fk_columns = *cols;
      if (const json::value* t = fo.if_contains("table")) {
        auto tn = table_name(*t, fpath + ".table");
        if (!tn) return tn.take_error();
        r.fk_table = *tn;
      }
    } else {
      auto cols = string_list(*fk, fpath);
      if (!cols) return cols.take_error();
      r.fk_columns = *cols;
    }
    if (r.fk_columns.empty()) return bad("expected at least one column", fpath);
  } else if (const json::value* m = (*u)->if_contains("manual_configuration")) {
    auto man = manual_of(*m, upath + ".manual_configuration");
    if (!man) return man.take_error();
    r.remote_table = man->remote_table;
    r.column_mapping = man->mapping;
    const std::string opath = upath + ".manual_configuration.insertion_order";
    if (const json::value* order =
            m->is_object() ? m->get_object().if_contains("insertion_order") : nullptr;
        order && !order->is_null()) {
      auto text = string_at(*order, opath);
      if (!text) return text.take_error();
      if (*text != "before_parent" && *text != "after_parent")
        return bad("expected \"before_parent\" or \"after_parent\"", opath);
      r.insert_after_parent = *text == "after_parent";
    }
  } else {
    return bad("expected \"foreign_key_constraint_on\" or \"manual_configuration\"", upath);
  }
  return r;
}

Result<ArrayRelationship> array_rel(const json::value& v, const std::string& path) {
  if (!v.is_object()) return bad("expected an object", path);
  ArrayRelationship r;
  auto name = rel_name(v.get_object(), path);
  if (!name) return name.take_error();
  r.name = *name;
  auto u = using_of(v.get_object(), path);
  if (!u) return u.take_error();
  std::string upath = path + ".using";
  if (const json::value* fk = (*u)->if_contains("foreign_key_constraint_on")) {
    std::string fpath = upath + ".foreign_key_constraint_on";
    if (!fk->is_object()) return bad("expected an object {table, column}", fpath);
    const auto& fo = fk->get_object();
    const json::value* t = fo.if_contains("table");
    if (!t) return bad("missing key \"table\"", fpath);
    auto tn = table_name(*t, fpath + ".table");
    if (!tn) return tn.take_error();
    r.fk_table = *tn;
    auto cols = fk_columns_of(fo, fpath);
    if (!cols) return cols.take_error();
    if (cols->empty()) return bad("expected at least one column", fpath);
    r.fk_columns = *cols;
  } else if (const json::value* m = (*u)->if_contains("manual_configuration")) {
    auto man = manual_of(*m, upath + ".manual_configuration");
    if (!man) return man.take_error();
    r.remote_table = man->remote_table;
    r.column_mapping = man->mapping;
  } else {
    return bad("expected \"foreign_key_constraint_on\" or \"manual_configuration\"", upath);
  }
  return r;
}

// The role and the `permission` object of a permission entry.
Result<std::pair<std::string, const json::object*>> permission_entry(const json::value& v,
                                                                     const std::string& path) {
  if (!v.is_object()) return bad("expected an object", path);
  const auto& o = v.get_object();
  const json::value* role = o.if_contains("role");
  if (!role) return bad("missing key \"role\"", path);
  auto r = string_at(*role, path + ".role");
  if (!r) return r.take_error();
  if (r->empty()) return bad("empty role name", path + ".role");
  const json::value* perm = o.if_contains("permission");
  if (!perm || !perm->is_object()) return bad("expected an object", path + ".permission");
  return std::pair<std::string, const json::object*>{*r, &perm->get_object()};
}

// `columns`: "*" or a list. A missing key is an error unless missing_means_all.
Status columns_of(const json::object& po, const std::string& ppath, bool missing_means_all,
                  bool& all_columns, std::vector<std::string>& columns) {
  const json::value* cols = po.if_contains("columns");
  if (!cols || cols->is_null()) {
    if (!missing_means_all) return bad("missing key \"columns\"", ppath);
    all_columns = true;
    return Ok{};
  }
  if (cols->is_string() && cols->get_string() == "*") {
    all_columns = true;
    return Ok{};
  }
  if (!cols->is_array()) return bad("expected a list of columns or \"*\"", ppath + ".columns");
  auto list = string_list(*cols, ppath + ".columns");
  if (!list) return list.take_error();
  columns = std::move(*list);
  return Ok{};
}

// A bool_exp under `key`; {} when absent or null.
Result<json::value> bool_exp_of(const json::object& po, std::string_view key,
                                const std::string& ppath) {
  const json::value* f = po.if_contains(key);
  if (!f || f->is_null()) return json::value(json::object());
  if (!f->is_object())
    return bad("expected a boolean expression object", ppath + "." + std::string(key));
  return *f;
}

Result<bool> backend_only_of(const json::object& po, const std::string& ppath) {
  const json::value* b = po.if_contains("backend_only");
  if (!b || b->is_null()) return false;
  if (!b->is_bool()) return bad("expected a boolean", ppath + ".backend_only");
  return b->get_bool();
}

bool is_session_variable_name(std::string_view s) {
  constexpr std::string_view kPrefix = "x-hasura-";
  if (s.size() < kPrefix.size()) return false;
  for (size_t i = 0; i < kPrefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != kPrefix[i]) return false;
  return true;
}

Result<std::vector<ColumnPreset>> presets_of(const json::object& po, const std::string& ppath) {
  std::vector<ColumnPreset> out;
  const json::value* set = po.if_contains("set");
  if (!set || set->is_null()) return out;
  if (!set->is_object()) return bad("expected an object {column: value}", ppath + ".set");
  for (const auto& kv : set->get_object()) {
    ColumnPreset p;
    p.column = std::string(kv.key());
    if (kv.value().is_string() && is_session_variable_name(kv.value().get_string())) {
      std::string name(kv.value().get_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      p.session_variable = std::move(name);
    } else {
      p.value = kv.value();
    }
    out.push_back(std::move(p));
  }
  return out;
}

Result<SelectPermission> select_permission(const json::value& v, const std::string& path) {
  auto entry = permission_entry(v, path);
  if (!entry) return entry.take_error();
  const json::object& po = *entry->second;
  const std::string ppath = path + ".permission";
  SelectPermission p;
  p.role = entry->first;
  if (auto s = columns_of(po, ppath, false, p.all_columns, p.columns); !s) return s.take_error();
  auto filter = bool_exp_of(po, "filter", ppath);
  if (!filter) return filter.take_error();
  p.filter = std::move(*filter);
  if (const json::value* l = po.if_contains("limit"); l && !l->is_null()) {
    if (!l->is_int64() || l->get_int64() < 0)
      return bad("expected a non-negative integer", ppath + ".limit");
    p.limit = l->get_int64();
  }
  if (const json::value* a = po.if_contains("allow_aggregations"); a && !a->is_null()) {
    if (!a->is_bool()) return bad("expected a boolean", ppath + ".allow_aggregations");
    p.allow_aggregations = a->get_bool();
  }
  if (const json::value* cf = po.if_contains("computed_fields"); cf && !cf->is_null()) {
    auto names = string_list(*cf, ppath + ".computed_fields");
    if (!names) return names.take_error();
    p.computed_fields = std::move(*names);
  }
  return p;
}

Result<InsertPermission> insert_permission(const json::value& v, const std::string& path) {
  auto entry = permission_entry(v, path);
  if (!entry) return entry.take_error();
  const json::object& po = *entry->second;
  const std::string ppath = path + ".permission";
  InsertPermission p;
  p.role = entry->first;
  if (auto s = columns_of(po, ppath, true, p.all_columns, p.columns); !s) return s.take_error();
  auto check = bool_exp_of(po, "check", ppath);
  if (!check) return check.take_error();
  p.check = std::move(*check);
  auto set = presets_of(po, ppath);
  if (!set) return set.take_error();
  p.set = std::move(*set);
  auto backend_only = backend_only_of(po, ppath);
  if (!backend_only) return backend_only.take_error();
  p.backend_only = *backend_only;
  return p;
}

Result<UpdatePermission> update_permission(const json::value& v, const std::string& path) {
  auto entry = permission_entry(v, path);
  if (!entry) return entry.take_error();
  const json::object& po = *entry->second;
  const std::string ppath = path + ".permission";
  UpdatePermission p;
  p.role = entry->first;
  if (auto s = columns_of(po, ppath, false, p.all_columns, p.columns); !s) return s.take_error();
  auto filter = bool_exp_of(po, "filter", ppath);
  if (!filter) return filter.take_error();
  p.filter = std::move(*filter);
  auto check = bool_exp_of(po, "check", ppath);
  if (!check) return check.take_error();
  p.check = std::move(*check);
  auto set = presets_of(po, ppath);
  if (!set) return set.take_error();
  p.set = std::move(*set);
  auto backend_only = backend_only_of(po, ppath);
  if (!backend_only) return backend_only.take_error();
  p.backend_only = *backend_only;
  return p;
}

Result<DeletePermission> delete_permission(const json::value& v, const std::string& path) {
  auto entry = permission_entry(v, path);
  if (!entry) return entry.take_error();
  const json::object& po = *entry->second;
  const std::string ppath = path + ".permission";
  DeletePermission p;
  p.role = entry->first;
  auto filter = bool_exp_of(po, "filter", ppath);
  if (!filter) return filter.take_error();
  p.filter = std::move(*filter);
  auto backend_only = backend_only_of(po, ppath);
  if (!backend_only) return backend_only.take_error();
  p.backend_only = *backend_only;
  return p;
}

// A name, or {name, comment} (Hasura 2.x); null or a missing name leaves the default.
Status custom_root_fields_of(const json::value& v, const std::string& path, CustomRootFields& out) {
  if (v.is_null()) return Ok{};
  if (!v.is_object()) return bad("expected an object", path);
  const std::pair<std::string_view, std::optional<std::string>*> kFields[] = {
      {"select", &out.select},
      {"select_by_pk", &out.select_by_pk},
      {"select_aggregate", &out.select_aggregate},
      {"select_stream", &out.select_stream},
      {"insert", &out.insert},
      {"insert_one", &out.insert_one},
      {"update", &out.update},
      {"update_by_pk", &out.update_by_pk},
      {"update_many", &out.update_many},
      {"delete", &out.delete_},
      {"delete_by_pk", &out.delete_by_pk},
  };
  for (const auto& kv : v.get_object()) {
    const std::string fpath = path + "." + std::string(kv.key());
    std::optional<std::string>* slot = nullptr;
    for (const auto& [name, field] : kFields)
      if (name == kv.key()) slot = field;
    if (!slot) return bad("unknown root field \"" + std::string(kv.key()) + "\"", fpath);
    const json::value* name = &kv.value();
    std::string npath = fpath;
    if (name->is_object()) {
      name = name->get_object().if_contains("name");
      npath += ".name";
      if (!name) continue;
    }
    if (name->is_null()) continue;
    auto s = string_at(*name, npath);
    if (!s) return s.take_error();
    if (s->empty()) return bad("empty root field name", npath);
    *slot = std::move(*s);
  }
  return Ok{};
}

template <class T, class F>
Status each(const json::object& o, std::string_view key, const std::string& path,
            std::vector<T>& out, F parse_one) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return Ok{};
  std::string kpath = path + "." + std::string(key);
  if (!v->is_array()) return bad("expected a list", kpath);
  size_t i = 0;
  for (const auto& e : v->get_array()) {
    auto r = parse_one(e, fmt::format("{}[{}]", kpath, i++));
    if (!r) return r.take_error();
    out.push_back(std::move(*r));
  }
  return Ok{};
}

// An optional string at o[key]; null reads as absent.
Status optional_string(const json::object& o, std::string_view key, const std::string& path,
                       std::optional<std::string>& out) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return Ok{};
  auto s = string_at(*v, path + "." + std::string(key));
  if (!s) return s.take_error();
  out = std::move(*s);
  return Ok{};
}

Result<TableMetadata::ComputedField> computed_field(const json::value& v, const std::string& path) {
  if (!v.is_object()) return bad("expected an object", path);
  const auto& o = v.get_object();
  TableMetadata::ComputedField f;
  const json::value* name = o.if_contains("name");
  if (!name) return bad("missing key \"name\"", path);
  auto n = string_at(*name, path + ".name");
  if (!n) return n.take_error();
  f.name = *n;
  const json::value* def = o.if_contains("definition");
  if (!def || !def->is_object()) return bad("expected an object", path + ".definition");
  const auto& d = def->get_object();
  const std::string dpath = path + ".definition";
  const json::value* fn = d.if_contains("function");
  if (!fn) return bad("missing key \"function\"", dpath);
  auto q = table_name(*fn, dpath + ".function");
  if (!q) return q.take_error();
  f.function = *q;
  if (auto s = optional_string(d, "table_argument", dpath, f.table_argument); !s)
    return s.take_error();
  if (auto s = optional_string(d, "session_argument", dpath, f.session_argument); !s)
    return s.take_error();
  std::optional<std::string> comment;
  if (auto s = optional_string(o, "comment", path, comment); !s) return s.take_error();
  f.comment = comment.value_or("");
  return f;
}

Result<FunctionMetadata> function_entry(const json::value& v, const std::string& path) {
  if (!v.is_object()) return bad("expected a function entry object", path);
  const auto& o = v.get_object();
  FunctionMetadata f;
  const json::value* fv = o.if_contains("function");
  if (!fv) return bad("missing key \"function\"", path);
  auto q = table_name(*fv, path + ".function");
  if (!q) return q.take_error();
  f.function = *q;
  if (const json::value* c = o.if_contains("configuration"); c && !c->is_null()) {
    const std::string cpath = path + ".configuration";
    if (!c->is_object()) return bad("expected an object", cpath);
    const auto& co = c->get_object();
    if (auto s = optional_string(co, "custom_name", cpath, f.custom_name); !s)
      return s.take_error();
    if (auto s = optional_string(co, "session_argument", cpath, f.session_argument); !s)
      return s.take_error();
    if (const json::value* rf = co.if_contains("custom_root_fields"); rf && !rf->is_null()) {
      if (!rf->is_object()) return bad("expected an object", cpath + ".custom_root_fields");
      const std::string rpath = cpath + ".custom_root_fields";
      const auto& ro = rf->get_object();
      if (auto s = optional_string(ro, "function", rpath, f.custom_function); !s)
        return s.take_error();
      if (auto s = optional_string(ro, "function_aggregate", rpath, f.custom_function_aggregate);
          !s)
        return s.take_error();
      if (f.custom_function && f.custom_function == f.custom_function_aggregate)
        return bad(fmt::format("the following custom root field names are duplicated: \"{}\" "
                               "and \"{}\"",
                               *f.custom_function, *f.custom_function_aggregate),
                   rpath);
    }
    std::optional<std::string> exposed;
    if (auto s = optional_string(co, "exposed_as", cpath, exposed); !s) return s.take_error();
    if (exposed == "query") {
      f.exposed_as = FunctionMetadata::ExposedAs::kQuery;
    } else if (exposed == "mutation") {
      f.exposed_as = FunctionMetadata::ExposedAs::kMutation;
    } else if (exposed) {
      return bad("exposed_as must be \"query\" or \"mutation\"", cpath + ".exposed_as");
    }
  }
  if (const json::value* ps = o.if_contains("permissions"); ps && !ps->is_null()) {
    if (!ps->is_array()) return bad("expected a list", path + ".permissions");
    size_t i = 0;
    for (const auto& p : ps->get_array()) {
      const std::string ppath = fmt::format("{}.permissions[{}]", path, i++);
      const json::value* role = p.is_object() ? p.get_object().if_contains("role") : nullptr;
      if (!role) return bad("missing key \"role\"", ppath);
      auto r = string_at(*role, ppath + ".role");
      if (!r) return r.take_error();
      f.permissions.push_back(*r);
    }
  }
  std::optional<std::string> comment;
  if (auto s = optional_string(o, "comment", path, comment); !s) return s.take_error();
  f.comment = comment.value_or("");
  return f;
}

Result<TableMetadata> table_entry(const json::value& v, const std::string& path) {
  if (!v.is_object()) return bad("expected a table entry object", path);
  const auto& o = v.get_object();
  TableMetadata t;
  const json::value* tv = o.if_contains("table");
  if (!tv) return bad("missing key \"table\"", path);
  auto tn = table_name(*tv, path + ".table");
  if (!tn) return tn.take_error();
  t.table = *tn;
  if (const json::value* c = o.if_contains("configuration"); c && c->is_object()) {
    const auto& co = c->get_object();
    std::string cpath = path + ".configuration";
    if (const json::value* cn = co.if_contains("custom_name"); cn && !cn->is_null()) {
      auto s = string_at(*cn, cpath + ".custom_name");
      if (!s) return s.take_error();
      t.custom_name = *s;
    }
    if (const json::value* cc = co.if_contains("custom_column_names"); cc && !cc->is_null()) {
      if (!cc->is_object()) return bad("expected an object", cpath + ".custom_column_names");
      for (const auto& kv : cc->get_object()) {
        auto s = string_at(kv.value(), cpath + ".custom_column_names." + std::string(kv.key()));
        if (!s) return s.take_error();
        t.custom_column_names[std::string(kv.key())] = *s;
      }
    }
    if (const json::value* rf = co.if_contains("custom_root_fields"))
      if (auto st = custom_root_fields_of(*rf, cpath + ".custom_root_fields", t.custom_root_fields);
          !st)
        return st.take_error();
    // Hasura 2.x also accepts column_config: {col: {custom_name}}.
    if (const json::value* cc = co.if_contains("column_config"); cc && cc->is_object()) {
      for (const auto& kv : cc->get_object()) {
        if (!kv.value().is_object()) continue;
        if (const json::value* cn = kv.value().get_object().if_contains("custom_name");
            cn && cn->is_string())
          t.custom_column_names[std::string(kv.key())] = std::string(cn->get_string());
      }
    }
  }
  if (auto s = each(o, "object_relationships", path, t.object_relationships, object_rel); !s)
    return s.take_error();
  if (auto s = each(o, "array_relationships", path, t.array_relationships, array_rel); !s)
    return s.take_error();
  if (auto s = each(o, "select_permissions", path, t.select_permissions, select_permission); !s)
    return s.take_error();
  if (auto s = each(o, "insert_permissions", path, t.insert_permissions, insert_permission); !s)
    return s.take_error();
  if (auto s = each(o, "update_permissions", path, t.update_permissions, update_permission); !s)
    return s.take_error();
  if (auto s = each(o, "delete_permissions", path, t.delete_permissions, delete_permission); !s)
    return s.take_error();
  if (auto s = each(o, "computed_fields", path, t.computed_fields, computed_field); !s)
    return s.take_error();
  if (const json::value* e = o.if_contains("is_enum"); e && !e->is_null()) {
    if (!e->is_bool()) return bad("expected a boolean", path + ".is_enum");
    t.is_enum = e->get_bool();
  }
  if (const json::value* lm = o.if_contains("live_mode"); lm && !lm->is_null()) {
    if (lm->is_string()) t.live_mode = parse_live_mode(lm->get_string());
    if (!t.live_mode) return bad("live_mode must be \"event\" or \"poll\"", path + ".live_mode");
  }
  return t;
}

Result<Metadata> table_list(const json::value& v, const std::string& path) {
  Metadata m;
  if (v.is_null()) return m;
  if (!v.is_array()) return bad("expected a list of table entries", path);
  size_t i = 0;
  for (const auto& e : v.get_array()) {
    std::string epath = fmt::format("{}[{}]", path, i++);
    if (e.is_string()) return bad("unresolved \"" + std::string(e.get_string()) + "\"", epath);
    auto t = table_entry(e, epath);
    if (!t) return t.take_error();
    for (const auto& prev : m.tables)
      if (prev.table == t->table)
        return bad("table " + t->table.to_string() + " is tracked twice", epath);
    m.tables.push_back(std::move(*t));
  }
  return m;
}

}  // namespace

namespace {

Result<Metadata> parse_metadata_document(const json::value& parsed);

// inherited_roles: [{role_name, role_set: [role]}].
Status inherited_roles(const json::object& o, Metadata& m) {
  const json::value* v = o.if_contains("inherited_roles");
  if (!v || v->is_null()) return Ok{};
  if (!v->is_array()) return bad("expected a list", "$.inherited_roles");
  size_t i = 0;
  for (const auto& e : v->get_array()) {
    const std::string path = fmt::format("$.inherited_roles[{}]", i++);
    const json::object* r = e.if_object();
    const json::value* name = r ? r->if_contains("role_name") : nullptr;
    const json::value* set = r ? r->if_contains("role_set") : nullptr;
    if (!name || !name->is_string() || name->get_string().empty())
      return bad("expected a role name", path + ".role_name");
    if (!set || !set->is_array()) return bad("expected a list of roles", path + ".role_set");
    InheritedRole role{std::string(name->get_string()), {}};
    for (const auto& p : set->get_array()) {
      if (!p.is_string()) return bad("expected a role name", path + ".role_set");
      role.role_set.emplace_back(p.get_string());
    }
    m.inherited_roles.push_back(std::move(role));
  }
  return Ok{};
}

// customization.type_names.mapping: {"<type>": "<new name>"}.
Status type_mapping(const json::value& customization, const std::string& path,
                    SourceCustomization& sc) {
  const json::value* names = customization.get_object().if_contains("type_names");
  if (!names || !names->is_object()) return Ok{};
  const json::value* mapping = names->get_object().if_contains("mapping");
  if (!mapping || mapping->is_null()) return Ok{};
  if (!mapping->is_object()) return bad("expected an object", path);
  for (const auto& [from, to] : mapping->get_object()) {
    if (!to.is_string()) return bad("expected a string", path + "." + std::string(from));
    sc.type_mapping[std::string(from)] = std::string(to.get_string());
  }
  return Ok{};
}

// A source's customization: {root_fields: {namespace, prefix, suffix}, type_names: {prefix,
// suffix, mapping}}.
Status customization(const json::value& source, const std::string& path, Metadata& m) {
  const json::value* c =
      source.is_object() ? source.get_object().if_contains("customization") : nullptr;
  if (!c || c->is_null()) return Ok{};
  if (!c->is_object()) return bad("expected an object", path + ".customization");
  auto text = [&](const char* group, const char* key, auto& out) -> Status {
    const json::value* g = c->get_object().if_contains(group);
    if (!g || g->is_null()) return Ok{};
    const std::string gpath = path + ".customization." + group;
    if (!g->is_object()) return bad("expected an object", gpath);
    const json::value* t = g->get_object().if_contains(key);
    if (!t || t->is_null()) return Ok{};
    if (!t->is_string()) return bad("expected a string", gpath + "." + key);
    out = std::string(t->get_string());
    return Ok{};
  };
  SourceCustomization& sc = m.customization;
  for (auto s :
       {text("root_fields", "namespace", sc.root_namespace),
        text("root_fields", "prefix", sc.root_prefix),
        text("root_fields", "suffix", sc.root_suffix), text("type_names", "prefix", sc.type_prefix),
        text("type_names", "suffix", sc.type_suffix)})
    if (!s) return s;
  return type_mapping(*c, path + ".customization.type_names.mapping", sc);
}

}  // namespace

Result<Metadata> parse_metadata(std::string_view yaml_or_json) {
  auto doc = load(yaml_or_json);
  if (!doc) return doc.take_error();
  Result<Metadata> m = parse_metadata_document(*doc);
  if (!m || !doc->is_object()) return m;
  if (auto s = inherited_roles(doc->get_object(), *m); !s) return s.take_error();
  if (const json::value* sources = doc->get_object().if_contains("sources");
      sources && sources->is_array()) {
    size_t i = 0;
    for (const auto& src : sources->get_array()) {
      const std::string spath = fmt::format("$.sources[{}]", i++);
      const json::value* kind = src.is_object() ? src.get_object().if_contains("kind") : nullptr;
      if (kind && kind->is_string() && kind->get_string() != "postgres") continue;
      if (auto s = customization(src, spath, *m); !s) return s.take_error();
      break;
    }
  }
  return m;
}

namespace {

Result<Metadata> parse_metadata_document(const json::value& parsed) {
  const json::value* doc = &parsed;
  if (doc->is_array()) return table_list(*doc, "$");
  if (doc->is_null()) return Metadata{};
  if (!doc->is_object()) return bad("expected a metadata object or a list of tables", "$");
  const auto& o = doc->get_object();
  if (const json::value* sources = o.if_contains("sources")) {
    if (!sources->is_array()) return bad("expected a list", "$.sources");
    size_t i = 0;
    for (const auto& s : sources->get_array()) {
      std::string spath = fmt::format("$.sources[{}]", i++);
      if (!s.is_object()) return bad("expected an object", spath);
      const json::value* kind = s.get_object().if_contains("kind");
      if (kind && kind->is_string() && kind->get_string() != "postgres") continue;
      const json::value* tables = s.get_object().if_contains("tables");
      Metadata m;
      if (tables) {
        auto listed = table_list(*tables, spath + ".tables");
        if (!listed) return listed.take_error();
        m = std::move(*listed);
      }
      if (auto st = each(s.get_object(), "functions", spath, m.functions, function_entry); !st)
        return st.take_error();
      return m;
    }
    return Metadata{};
  }
  if (const json::value* tables = o.if_contains("tables")) return table_list(*tables, "$.tables");
  if (o.contains("table")) {
    auto t = table_entry(*doc, "$");
    if (!t) return t.take_error();
    Metadata m;
    m.tables.push_back(std::move(*t));
    return m;
  }
  return bad("expected \"sources\", \"tables\" or a list of table entries", "$");
}

}  // namespace

Result<TableMetadata> parse_table(std::string_view yaml_or_json) {
  auto doc = load(yaml_or_json);
  if (!doc) return doc.take_error();
  return table_entry(*doc, "$");
}

}  // namespace liveql::metadata

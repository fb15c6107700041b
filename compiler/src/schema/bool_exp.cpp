#include "schema/bool_exp.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "liveql/base/text.hpp"
#include "schema/functions.hpp"
#include "schema/ltree.hpp"
#include "schema/postgis.hpp"

namespace liveql::compiler {

namespace json = boost::json;

namespace {

Error invalid(std::string message, std::string path) {
  return make_error(ErrorCode::kValidationFailed, std::move(message), std::move(path));
}

bool is_session_variable(const json::value& v) {
  return v.is_string() && ascii_lower(std::string_view(v.get_string()).substr(0, 9)) == "x-hasura-";
}

struct OpInfo {
  const char* name;
  ir::CompareOp op;
  enum class Arg { kColumn, kList, kBool, kText, kTextList, kJsonb } arg;
};

constexpr OpInfo kOps[] = {
    {"_eq", ir::CompareOp::kEq, OpInfo::Arg::kColumn},
    {"_neq", ir::CompareOp::kNeq, OpInfo::Arg::kColumn},
    {"_gt", ir::CompareOp::kGt, OpInfo::Arg::kColumn},
    {"_lt", ir::CompareOp::kLt, OpInfo::Arg::kColumn},
    {"_gte", ir::CompareOp::kGte, OpInfo::Arg::kColumn},
    {"_lte", ir::CompareOp::kLte, OpInfo::Arg::kColumn},
    {"_in", ir::CompareOp::kIn, OpInfo::Arg::kList},
    {"_nin", ir::CompareOp::kNin, OpInfo::Arg::kList},
    {"_is_null", ir::CompareOp::kIsNull, OpInfo::Arg::kBool},
    {"_like", ir::CompareOp::kLike, OpInfo::Arg::kColumn},
    {"_nlike", ir::CompareOp::kNlike, OpInfo::Arg::kColumn},
    {"_ilike", ir::CompareOp::kIlike, OpInfo::Arg::kColumn},
    {"_nilike", ir::CompareOp::kNilike, OpInfo::Arg::kColumn},
    {"_similar", ir::CompareOp::kSimilar, OpInfo::Arg::kColumn},
    {"_nsimilar", ir::CompareOp::kNsimilar, OpInfo::Arg::kColumn},
    {"_regex", ir::CompareOp::kRegex, OpInfo::Arg::kColumn},
    {"_nregex", ir::CompareOp::kNregex, OpInfo::Arg::kColumn},
    {"_iregex", ir::CompareOp::kIregex, OpInfo::Arg::kColumn},
    {"_niregex", ir::CompareOp::kNiregex, OpInfo::Arg::kColumn},
    {"_contains", ir::CompareOp::kContains, OpInfo::Arg::kJsonb},
    {"_contained_in", ir::CompareOp::kContainedIn, OpInfo::Arg::kJsonb},
    {"_has_key", ir::CompareOp::kHasKey, OpInfo::Arg::kText},
    {"_has_keys_any", ir::CompareOp::kHasKeysAny, OpInfo::Arg::kTextList},
    {"_has_keys_all", ir::CompareOp::kHasKeysAll, OpInfo::Arg::kTextList},
};

// Hasura's column comparison operators (permission filters only): column op other column.
struct ColumnOpInfo {
  const char* name;
  ir::CompareOp op;
};

constexpr ColumnOpInfo kColumnOps[] = {
    {"_ceq", ir::CompareOp::kEq},   {"_cne", ir::CompareOp::kNeq}, {"_cneq", ir::CompareOp::kNeq},
    {"_cgt", ir::CompareOp::kGt},   {"_clt", ir::CompareOp::kLt},  {"_cgte", ir::CompareOp::kGte},
    {"_clte", ir::CompareOp::kLte},
};

ir::BoolExpPtr make(ir::BoolExp::Kind kind, std::vector<ir::BoolExpPtr> children = {}) {
  auto e = std::make_shared<ir::BoolExp>();
  e->kind = kind;
  e->children = std::move(children);
  return e;
}

class Interpreter {
 public:
  explicit Interpreter(const FilterContext& ctx) : ctx_(ctx) {}

  Result<ir::BoolExpPtr> top(size_t table, const json::value& v, const std::string& path) {
    levels_.push_back(table);
    return run(table, v, path);
  }

  // A key as written, or in a permission filter its canonical spelling: Hasura's metadata also
  // accepts operators and connectives with a `$` instead of the `_` ($eq, $or, $exists) and
  // `_ne` for `_neq`. A user `where` has been validated against the GraphQL types: as written.
  std::string metadata_spelling(std::string_view key) const {
    std::string k(key);
    if (ctx_.role) return k;
    if (!k.empty() && k[0] == '$') k[0] = '_';
    if (k == "_ne") k = "_neq";
    return k;
  }

  Result<ir::BoolExpPtr> run(size_t table, const json::value& v, const std::string& path) {
    if (!v.is_object()) return invalid("expected a boolean expression object", path);
    const TrackedTable& tt = ctx_.schema.tables[table];
    std::vector<ir::BoolExpPtr> parts;
    for (const auto& kv : v.get_object()) {
      std::string key = metadata_spelling(kv.key());
      std::string kpath = path + "." + key;
      const json::value& val = kv.value();
      if (key == "_and" || key == "_or") {
        std::vector<ir::BoolExpPtr> children;
        if (val.is_object()) {
          auto c = run(table, val, kpath);
          if (!c) return c.take_error();
          children.push_back(*c);
        } else if (val.is_array()) {
          size_t i = 0;
          for (const auto& e : val.get_array()) {
            auto c = run(table, e, fmt::format("{}[{}]", kpath, i++));
            if (!c) return c.take_error();
            children.push_back(*c);
          }
        } else if (!val.is_null()) {
          return invalid("expected a list of boolean expressions", kpath);
        }
        if (key == "_and") {
          parts.push_back(make(ir::BoolExp::Kind::kAnd, std::move(children)));
        } else {
          parts.push_back(make(ir::BoolExp::Kind::kOr, std::move(children)));
        }
        continue;
      }
      if (key == "_not") {
        auto c = run(table, val, kpath);
        if (!c) return c.take_error();
        parts.push_back(make(ir::BoolExp::Kind::kNot, {*c}));
        continue;
      }
      if (key == "_exists" && !ctx_.role) {
        auto e = exists(val, kpath);
        if (!e) return e.take_error();
        parts.push_back(*e);
        continue;
      }
      if (const std::string* col = column_of(tt, table, key)) {
        auto c = compare(tt, *col, val, kpath);
        if (!c) return c.take_error();
        parts.push_back(*c);
        continue;
      }
      if (const Relationship* rel = relationship_of(tt, key)) {
        auto r = relationship(tt, *rel, val, kpath);
        if (!r) return r.take_error();
        parts.push_back(*r);
        continue;
      }
      if (const ComputedField* cf = computed_of(table, key)) {
        auto c = computed(tt, *cf, val, kpath);
        if (!c) return c.take_error();
        parts.push_back(*c);
        continue;
      }
      return invalid(fmt::format("field '{}' not found in type: '{}_bool_exp'", key, tt.gql_name),
                     kpath);
    }
    if (parts.empty()) return make(ir::BoolExp::Kind::kTrue);
    if (parts.size() == 1) return parts[0];
    return make(ir::BoolExp::Kind::kAnd, std::move(parts));
  }

 private:
  const std::string* column_of(const TrackedTable& tt, size_t table, const std::string& key) {
    if (ctx_.role) {
      const std::string* pg = tt.postgres_column(key);
      const RoleTable* rt = ctx_.role->table(table);
      if (!pg || !rt || !rt->sees(*pg)) return nullptr;
      return pg;
    }
    if (const catalog::Column* c = tt.table.column(key)) return &c->name;
    return tt.postgres_column(key);
  }

  // A computed field without arguments that the filter may use (a user `where`: one the role
  // sees).
  const ComputedField* computed_of(size_t table, const std::string& key) {
    const ComputedField* cf = ctx_.schema.tables[table].computed_field(key);
    if (!cf || !cf->call.inputs.empty()) return nullptr;
    if (!ctx_.role) return cf;
    const RoleTable* rt = ctx_.role->table(table);
    if (!rt || !rt->selectable) return nullptr;
    if (cf->returns) {
      const RoleTable* target = ctx_.role->table(*cf->returns);
      return target && target->selectable ? cf : nullptr;
    }
    return !rt->permission || rt->permission->computed_fields.count(cf->name) ? cf : nullptr;
  }

  // The comparisons of `e` made on the computed field's value instead of a column.
  static ir::BoolExpPtr on_computed(const ir::BoolExpPtr& e, const ir::FunctionCallPtr& call) {
    if (!e) return e;
    auto copy = std::make_shared<ir::BoolExp>(*e);
    if (copy->kind == ir::BoolExp::Kind::kCompare) {
      copy->computed = call;
      copy->column.clear();
      copy->column_cast.clear();
    }
    for (auto& c : copy->children) c = on_computed(c, call);
    return copy;
  }

  // A scalar computed field compared like a column; a table one filters like an array
  // relationship to the rows it returns.
  Result<ir::BoolExpPtr> computed(const TrackedTable& tt, const ComputedField& cf,
                                  const json::value& v, const std::string& path) {
    auto call = function_call(cf.call, {}, tt.table.name, ctx_.session, ctx_.params, path);
    if (!call) return call.take_error();
    if (!cf.returns) {
      auto c = compare(tt, "", v, path, &cf.scalar);
      if (!c) return c.take_error();
      return on_computed(*c, *call);
    }
    levels_.push_back(*cf.returns);
    auto inner = run(*cf.returns, v, path);
    levels_.pop_back();
    if (!inner) return inner.take_error();
    ir::BoolExpPtr in = *inner;
    if (ctx_.role && ctx_.session && ctx_.params) {
      auto perm =
          permission_filter(ctx_.schema, *ctx_.role, *cf.returns, *ctx_.session, *ctx_.params);
      if (!perm) return perm.take_error();
      in = and_exp(in, *perm);
    }
    auto e = std::make_shared<ir::BoolExp>();
    e->kind = ir::BoolExp::Kind::kRelationship;
    e->join.name = cf.name;
    e->join.target = ctx_.schema.tables[*cf.returns].table.name;
    e->join.is_array = true;
    e->inner = in;
    e->computed = *call;
    return ir::BoolExpPtr(std::move(e));
  }

  const Relationship* relationship_of(const TrackedTable& tt, const std::string& key) {
    const Relationship* rel = tt.relationship(key);
    if (!rel) return nullptr;
    if (ctx_.role) {
      // A table the role may only write is out of reach of its filters, as in its types.
      const RoleTable* target = ctx_.role->table(rel->target);
      if (!target || !target->selectable) return nullptr;
    }
    return rel;
  }

  Result<ir::Param> value_param(const json::value& v, const std::string& pg_type, bool is_list,
                                const std::string& path) {
    json::value value = v;
    if (!ctx_.role && is_session_variable(v)) {
      std::string name = ascii_lower(std::string_view(v.get_string()));
      if (!ctx_.session) {
        value = json::value("");
      } else {
        auto it = ctx_.session->variables.find(name);
        if (it == ctx_.session->variables.end())
          return make_error(ErrorCode::kNotFound,
                            fmt::format("missing session variable: \"{}\"", name), "$");
        value = json::value(it->second);
        if (is_list) {
          auto list = session_array(it->second);
          if (!list)
            return make_error(ErrorCode::kParseFailed,
                              fmt::format("the session variable \"{}\" is not an array: expected "
                                          "PostgreSQL array syntax such as {{1,2}}",
                                          name),
                              "$");
          value = std::move(*list);
        }
      }
    }
    if (!ctx_.params) return ir::Param{"", pg_type, is_list};
    std::string session_name = !ctx_.role && is_session_variable(v)
                                   ? ascii_lower(std::string_view(v.get_string()))
                                   : std::string();
    ir::Param p = ctx_.params->add(std::move(value), pg_type, is_list);
    if (!session_name.empty()) {
      ctx_.params->from_session(p, session_name);
    } else if (ctx_.role) {
      ctx_.params->from_query(p);
    }
    return p;
  }

  // as: the column seen as another type (PostGIS _cast), compared as column::<as type>.
  Result<ir::BoolExpPtr> compare(const TrackedTable& tt, const std::string& column,
                                 const json::value& v, const std::string& path,
                                 const catalog::Column* as = nullptr) {
    // Permission filters may compare with a bare value: {"id": "X-Hasura-User-Id"} is _eq.
    if (!v.is_object() && !ctx_.role) return compare(tt, column, json::object{{"_eq", v}}, path);
    if (!v.is_object()) return invalid("expected a comparison expression object", path);
    const catalog::Column& col = as ? *as : *tt.table.column(column);
    std::string type = cast_type(col);
    std::vector<ir::BoolExpPtr> parts;
    for (const auto& kv : v.get_object()) {
      std::string op = metadata_spelling(kv.key());
      std::string opath = path + "." + op;
      if (!ctx_.role) {
        const ColumnOpInfo* cinfo = nullptr;
        for (const auto& o : kColumnOps)
          if (op == o.name) cinfo = &o;
        if (cinfo) {
          auto c = compare_columns(tt, col, cinfo->op, kv.value(), opath);
          if (!c) return c.take_error();
          parts.push_back(*c);
          continue;
        }
      }
      if (postgis::geo_type(scalar_for(col))) {
        bool handled = false;
        auto g = postgis_compare(tt, column, col, as != nullptr, op, kv.value(), opath, handled);
        if (!g) return g.take_error();
        if (handled) {
          parts.push_back(*g);
          continue;
        }
      }
      if (scalar_for(col) == "raster") {
        if (const postgis::RasterOperator* rop = postgis::find_raster_operator(op)) {
          auto r = raster_compare(column, col, *rop, kv.value(), opath);
          if (!r) return r.take_error();
          parts.push_back(*r);
          continue;
        }
      }
      if (op == "_cast" && scalar_for(col) == "jsonb" && !as) {
        auto c = cast_compare(tt, column, col, kv.value(), opath);
        if (!c) return c.take_error();
        parts.push_back(*c);
        continue;
      }
      if (scalar_for(col) == "ltree") {
        if (const ltree::Operator* lop = ltree::find_operator(op)) {
          auto l = ltree_compare(column, col, *lop, kv.value(), opath);
          if (!l) return l.take_error();
          parts.push_back(*l);
          continue;
        }
      }
      const OpInfo* info = nullptr;
      for (const auto& o : kOps)
        if (op == o.name) info = &o;
      std::string scalar = scalar_for(col);
      bool text =
          scalar == "String" || scalar == "bpchar" || scalar == "citext" || scalar == "name";
      bool allowed = info != nullptr;
      if (info && info->op >= ir::CompareOp::kLike && info->op <= ir::CompareOp::kNiregex)
        allowed = text;
      if (info && info->op >= ir::CompareOp::kContains) allowed = scalar == "jsonb";
      if (!allowed)
        return invalid(fmt::format("field '{}' not found in type: '{}_comparison_exp'", op, scalar),
                       opath);
      const json::value& arg = kv.value();
      if (arg.is_null())
        return invalid(fmt::format("unexpected null value for type '{}'", scalar), opath);
      auto e = std::make_shared<ir::BoolExp>();
      e->kind = ir::BoolExp::Kind::kCompare;
      e->column = column;
      e->column_type = type;
      e->column_is_enum = !col.enum_values.empty();
      if (as) e->column_cast = type;
      e->op = info->op;
      Result<ir::Param> p = ir::Param{};
      switch (info->arg) {
        case OpInfo::Arg::kColumn:
          p = value_param(arg, type, false, opath);
          break;
        case OpInfo::Arg::kJsonb:
          p = value_param(arg, "jsonb", false, opath);
          break;
        case OpInfo::Arg::kText:
          p = value_param(arg, "text", false, opath);
          break;
        case OpInfo::Arg::kBool:
          if (!arg.is_bool()) return invalid("expected a boolean for type 'Boolean'", opath);
          p = value_param(arg, "boolean", false, opath);
          break;
        case OpInfo::Arg::kList:
        case OpInfo::Arg::kTextList:
          if (!arg.is_array() && !is_session_variable(arg))
            return invalid("expected a list", opath);
          p = value_param(arg, info->arg == OpInfo::Arg::kList ? type : "text", true, opath);
          break;
      }
      if (!p) return p.take_error();
      e->param = std::move(*p);
      parts.push_back(std::move(e));
    }
    if (parts.empty()) return make(ir::BoolExp::Kind::kTrue);
    if (parts.size() == 1) return parts[0];
    return make(ir::BoolExp::Kind::kAnd, std::move(parts));
  }

  // `other` names a column of this row ("col" or ["col"]) or of the permission's own table
  // (["$", "col"]).
  Result<ir::BoolExpPtr> compare_columns(const TrackedTable& tt, const catalog::Column& col,
                                         ir::CompareOp op, const json::value& other,
                                         const std::string& path) {
    std::string name;
    bool root = false;
    if (other.is_string()) {
      name = std::string(other.get_string());
    } else if (other.is_array() && other.get_array().size() == 1 &&
               other.get_array()[0].is_string()) {
      name = std::string(other.get_array()[0].get_string());
    } else if (other.is_array() && other.get_array().size() == 2 && other.get_array()[0] == "$" &&
               other.get_array()[1].is_string()) {
      name = std::string(other.get_array()[1].get_string());
      root = true;
    } else {
      return invalid("expected a column name, or [\"$\", column] for the root table's column",
                     path);
    }
    size_t table = root ? levels_.front() : levels_.back();
    const TrackedTable& other_table = root ? ctx_.schema.tables[table] : tt;
    const catalog::Column* oc = other_table.table.column(name);
    if (!oc) {
      if (const std::string* pg = other_table.postgres_column(name))
        oc = other_table.table.column(*pg);
    }
    if (!oc)
      return invalid(fmt::format("column \"{}\" does not exist in table \"{}\"", name,
                                 other_table.table.name.to_string()),
                     path);
    auto e = std::make_shared<ir::BoolExp>();
    e->kind = ir::BoolExp::Kind::kCompareColumns;
    e->column = col.name;
    e->column_type = cast_type(col);
    e->op = op;
    e->other_column = oc->name;
    e->levels_up = root ? static_cast<int>(levels_.size()) - 1 : 0;
    return ir::BoolExpPtr(std::move(e));
  }

  // `_cast`: {<target scalar>: <target>_comparison_exp}, the column compared as the target type
  // (geometry <-> geography, jsonb -> String as text).
  Result<ir::BoolExpPtr> cast_compare(const TrackedTable& tt, const std::string& column,
                                      const catalog::Column& col, const json::value& arg,
                                      const std::string& path) {
    const std::string scalar = scalar_for(col);
    if (!arg.is_object())
      return invalid("expected an object for type '" + scalar + "_cast_exp'", path);
    std::vector<ir::BoolExpPtr> parts;
    for (const auto& kv : arg.get_object()) {
      const std::string target(kv.key());
      if (target != cast_target(scalar))
        return invalid(fmt::format("field \"{}\" not found in type: '{}_cast_exp'", target, scalar),
                       path + "." + target);
      catalog::Column as = col;
      as.udt_name = target;
      as.pg_type = target;
      as.is_array = false;
      if (target == "String") {
        as.udt_name = as.pg_type = "text";
        as.type_schema = "pg_catalog";
      }
      auto c = compare(tt, column, kv.value(), path + "." + target, &as);
      if (!c) return c.take_error();
      parts.push_back(*c);
    }
    if (parts.empty()) return make(ir::BoolExp::Kind::kTrue);
    if (parts.size() == 1) return parts[0];
    return make(ir::BoolExp::Kind::kAnd, std::move(parts));
  }

  // PostGIS on a geometry/geography column (or cast): `_cast`, the _st_* operators (handled set),
  // and for the operators compare() handles, Hasura's check of the GeoJSON values.
  Result<ir::BoolExpPtr> postgis_compare(const TrackedTable& tt, const std::string& column,
                                         const catalog::Column& col, bool cast,
                                         const std::string& op, const json::value& arg,
                                         const std::string& path, bool& handled) {
    const std::string scalar = scalar_for(col);
    const std::string type = cast_type(col);
    handled = true;
    if (op == "_cast") return cast_compare(tt, column, col, arg, path);
    const postgis::Operator* pop = postgis::find_operator(scalar, op);
    if (!pop) {
      // _eq, _in, ...: compare() builds them; their GeoJSON is checked here.
      handled = false;
      if (arg.is_array()) {
        size_t i = 0;
        for (const auto& e : arg.get_array())
          if (auto s = geojson_value(e, fmt::format("{}[{}]", path, i++)); !s)
            return s.take_error();
      } else if (op != "_is_null") {
        if (auto s = geojson_value(arg, path); !s) return s.take_error();
      }
      return ir::BoolExpPtr();
    }
    if (arg.is_null())
      return invalid(fmt::format("unexpected null value for type '{}'", scalar), path);
    auto e = std::make_shared<ir::BoolExp>();
    e->kind = ir::BoolExp::Kind::kCompare;
    e->column = column;
    e->column_type = type;
    if (cast) e->column_cast = type;
    e->op = pop->op;
    if (!pop->distance_input) {
      if (auto s = geojson_value(arg, path); !s) return s.take_error();
      auto p = value_param(arg, type, false, path);
      if (!p) return p.take_error();
      e->param = std::move(*p);
      return ir::BoolExpPtr(std::move(e));
    }
    // {distance, from, use_spheroid}: one param holding the object, session variables resolved.
    std::vector<std::string> keys{"distance", "from"};
    if (scalar == "geography") keys.push_back("use_spheroid");
    auto within = input_object(arg, "st_d_within_input", keys, path,
                               [&](const std::string& key, const json::value& v) -> Status {
                                 if (key == "from") return geojson_value(v, path + ".from");
                                 return Ok{};
                               });
    if (!within) return within.take_error();
    for (const char* required : {"distance", "from"})
      if (!within->contains(required))
        return invalid(fmt::format("missing required field '{}'", required), path);
    e->param = object_param(std::move(*within), type);
    return ir::BoolExpPtr(std::move(e));
  }

  // An operator's input object as one value: fields other than `keys` refused as Hasura words
  // it, session variables resolved (in permissions), every other field passed to `check`.
  template <typename Check>
  Result<json::object> input_object(const json::value& arg, const std::string& input,
                                    const std::vector<std::string>& keys, const std::string& path,
                                    Check check) {
    if (!arg.is_object()) return invalid("expected an object for type '" + input + "'", path);
    json::object out;
    for (const auto& kv : arg.get_object()) {
      const std::string key(kv.key());
      if (std::find(keys.begin(), keys.end(), key) == keys.end())
        return invalid(fmt::format("field '{}' not found in type: '{}'", key, input),
                       path + "." + key);
      json::value v = kv.value();
      if (!ctx_.role && is_session_variable(v)) {
        auto resolved = session_value(v);
        if (!resolved) return resolved.take_error();
        v = std::move(*resolved);
      } else if (auto s = check(key, v); !s) {
        return s.take_error();
      }
      out[key] = std::move(v);
    }
    return out;
  }

  // A param holding an input object (a placeholder when only validating); one from the query
  // (not a permission) is recorded as such for explain.
  ir::Param object_param(json::object value, const std::string& type) {
    if (!ctx_.params) return ir::Param{"", type, false};
    ir::Param p = ctx_.params->add(json::value(std::move(value)), type);
    if (ctx_.role) ctx_.params->from_query(p);
    return p;
  }

  // A raster operator: a raster value (hex WKB), or {geommin, nband} as one param (session
  // variables resolved, the GeoJSON checked as Hasura checks it).
  Result<ir::BoolExpPtr> raster_compare(const std::string& column, const catalog::Column& col,
                                        const postgis::RasterOperator& rop, const json::value& arg,
                                        const std::string& path) {
    const std::string input = rop.input;
    if (arg.is_null())
      return invalid(fmt::format("unexpected null value for type '{}'", input), path);
    auto e = std::make_shared<ir::BoolExp>();
    e->kind = ir::BoolExp::Kind::kCompare;
    e->column = column;
    e->column_type = cast_type(col);
    e->op = rop.op;
    if (rop.op == ir::CompareOp::kStIntersectsRast) {
      if (ctx_.role || !is_session_variable(arg))
        if (auto s = postgis::validate_raster(arg, path); !s) return s.take_error();
      auto p = value_param(arg, e->column_type, false, path);
      if (!p) return p.take_error();
      e->param = std::move(*p);
      return ir::BoolExpPtr(std::move(e));
    }
    auto fields = input_object(arg, input, {"geommin", "nband"}, path,
                               [&](const std::string& key, const json::value& v) -> Status {
                                 if (key == "geommin") return geojson_value(v, path + ".geommin");
                                 if (!v.is_null() && !v.is_int64() && !v.is_uint64())
                                   return invalid("expected a 32-bit integer for type 'Int'",
                                                  path + ".nband");
                                 return Ok{};
                               });
    if (!fields) return fields.take_error();
    if (!fields->contains("geommin") || fields->at("geommin").is_null())
      return invalid("missing required field 'geommin'", path);
    if (rop.op == ir::CompareOp::kStIntersectsNbandGeom &&
        (!fields->contains("nband") || fields->at("nband").is_null()))
      return invalid("missing required field 'nband'", path);
    e->param = object_param(std::move(*fields), "geometry");
    return ir::BoolExpPtr(std::move(e));
  }

  // An ltree operator: the column against an ltree, lquery or ltxtquery value (or a list).
  // Values in a permission filter are checked here; a request's were checked as it was read.
  Result<ir::BoolExpPtr> ltree_compare(const std::string& column, const catalog::Column& col,
                                       const ltree::Operator& lop, const json::value& arg,
                                       const std::string& path) {
    if (arg.is_null())
      return invalid(fmt::format("unexpected null value for type '{}'", lop.arg_type), path);
    const bool session = !ctx_.role && is_session_variable(arg);
    if (lop.list && !arg.is_array() && !session) return invalid("expected a list", path);
    if (!ctx_.role && !session) {
      if (arg.is_array()) {
        size_t i = 0;
        for (const auto& e : arg.get_array())
          if (auto s = ltree::check_value(lop.arg_type, e, fmt::format("{}[{}]", path, i++)); !s)
            return s.take_error();
      } else if (auto s = ltree::check_value(lop.arg_type, arg, path); !s) {
        return s.take_error();
      }
    }
    auto e = std::make_shared<ir::BoolExp>();
    e->kind = ir::BoolExp::Kind::kCompare;
    e->column = column;
    e->column_type = cast_type(col);
    e->op = lop.op;
    const std::string type = std::string_view(lop.arg_type) == "ltree"
                                 ? e->column_type
                                 : ltree::extension_type(col, lop.arg_type);
    auto p = value_param(arg, type, lop.list, path);
    if (!p) return p.take_error();
    e->param = std::move(*p);
    return ir::BoolExpPtr(std::move(e));
  }

  // A GeoJSON value as Hasura checks it; a session variable (a string) is left to PostgreSQL.
  Status geojson_value(const json::value& v, const std::string& path) const {
    if (v.is_null() || (!ctx_.role && is_session_variable(v))) return Ok{};
    return postgis::validate_geojson(v, path);
  }

  Result<json::value> session_value(const json::value& v) const {
    if (!ctx_.session) return json::value("");
    std::string name = ascii_lower(std::string_view(v.get_string()));
    auto it = ctx_.session->variables.find(name);
    if (it == ctx_.session->variables.end())
      return make_error(ErrorCode::kNotFound, fmt::format("missing session variable: \"{}\"", name),
                        "$");
    return json::value(it->second);
  }

  Result<ir::BoolExpPtr> relationship(const TrackedTable& tt, const Relationship& rel,
                                      const json::value& v, const std::string& path) {
    levels_.push_back(rel.target);
    auto inner = run(rel.target, v, path);
    levels_.pop_back();
    if (!inner) return inner.take_error();
    ir::BoolExpPtr in = *inner;
    if (ctx_.role && ctx_.session && ctx_.params) {
      auto perm =
          permission_filter(ctx_.schema, *ctx_.role, rel.target, *ctx_.session, *ctx_.params);
      if (!perm) return perm.take_error();
      in = and_exp(in, *perm);
    }
    auto e = std::make_shared<ir::BoolExp>();
    e->kind = ir::BoolExp::Kind::kRelationship;
    e->join.name = rel.name;
    e->join.target = ctx_.schema.tables[rel.target].table.name;
    e->join.mapping = rel.mapping;
    e->join.is_array = rel.is_array;
    e->inner = in;
    return ir::BoolExpPtr(std::move(e));
  }

  Result<ir::BoolExpPtr> exists(const json::value& v, const std::string& path) {
    if (!v.is_object()) return invalid("expected an object {_table, _where}", path);
    const json::value* t = v.get_object().if_contains("_table");
    const json::value* w = v.get_object().if_contains("_where");
    // {schema, name}, or as Hasura also accepts, a bare name of a table in `public`.
    if (!t || !(t->is_object() || t->is_string()))
      return invalid("expected \"_table\": {schema, name} or a table name", path);
    catalog::QualifiedName q;
    if (t->is_string()) {
      q.name = std::string(t->get_string());
    } else {
      if (const json::value* n = t->get_object().if_contains("name"); n && n->is_string())
        q.name = std::string(n->get_string());
      if (const json::value* s = t->get_object().if_contains("schema"); s && s->is_string())
        q.schema = std::string(s->get_string());
    }
    std::optional<size_t> index;
    for (size_t i = 0; i < ctx_.schema.tables.size(); ++i)
      if (ctx_.schema.tables[i].table.name == q) index = i;
    if (!index) return invalid(fmt::format("table \"{}\" is not tracked", q.to_string()), path);
    levels_.push_back(*index);
    auto inner = run(*index, w ? *w : json::value(json::object()), path + "._where");
    levels_.pop_back();
    if (!inner) return inner.take_error();
    auto e = std::make_shared<ir::BoolExp>();
    e->kind = ir::BoolExp::Kind::kExists;
    e->table = q;
    e->inner = *inner;
    return ir::BoolExpPtr(std::move(e));
  }

  const FilterContext& ctx_;
  std::vector<size_t> levels_;  // the table of every relationship/_exists level, outermost first
};

}  // namespace

ir::Param ParamSink::add(json::value value, std::string pg_type, bool is_list) {
  std::string key = fmt::format("p{}", next_++);
  vars_[key] = std::move(value);
  return ir::Param{std::move(key), std::move(pg_type), is_list};
}

void ParamSink::from_query(const ir::Param& p) {
  if (origins_) origins_->query.push_back(p.key);
}

void ParamSink::from_session(const ir::Param& p, const std::string& name) {
  if (origins_) origins_->session[p.key] = name;
}

Result<ir::BoolExpPtr> bool_exp(const FilterContext& ctx, size_t table, const json::value& value,
                                const std::string& path) {
  return Interpreter(ctx).top(table, value, path);
}

Result<ir::BoolExpPtr> permission_filter(const Schema& schema, const RoleSchema& role, size_t table,
                                         const Session& session, ParamSink& params) {
  const RoleTable* rt = role.table(table);
  // Rows of a table the role may only write are never readable through a select.
  if (rt && !rt->selectable) return make(ir::BoolExp::Kind::kFalse);
  if (!rt || !rt->permission) return ir::BoolExpPtr();
  const json::value& f = rt->permission->filter;
  if (f.is_object() && f.get_object().empty()) return ir::BoolExpPtr();
  FilterContext ctx{schema, nullptr, &session, &params};
  return bool_exp(ctx, table, f, "$");
}

Result<ir::BoolExpPtr> column_filter(const Schema& schema, const RoleSchema& role, size_t table,
                                     const std::string& column, const Session& session,
                                     ParamSink& params) {
  const RoleTable* rt = role.table(table);
  if (!rt || !rt->permission) return ir::BoolExpPtr();
  auto it = rt->permission->column_filters.find(column);
  if (it == rt->permission->column_filters.end()) return ir::BoolExpPtr();
  FilterContext ctx{schema, nullptr, &session, &params};
  return bool_exp(ctx, table, it->second, "$");
}

Status check_permission_filter(const Schema& schema, size_t table, const json::value& filter) {
  FilterContext ctx{schema, nullptr, nullptr, nullptr};
  auto r = bool_exp(ctx, table, filter, "$.filter");
  if (!r) return r.take_error();
  return Ok{};
}

std::optional<json::array> session_array(std::string_view text) {
  size_t i = 0;
  auto skip_space = [&] {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  };
  skip_space();
  if (i < text.size() && text[i] == '[') {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_array()) return std::nullopt;
    json::array out;
    for (const auto& e : v.get_array()) {
      if (e.is_string() || e.is_null()) {
        out.push_back(e);
      } else if (e.is_array() || e.is_object()) {
        return std::nullopt;
      } else {
        out.push_back(json::value(json::serialize(e)));
      }
    }
    return out;
  }
  if (i >= text.size() || text[i] != '{') return std::nullopt;
  ++i;
  json::array out;
  skip_space();
  if (i < text.size() && text[i] == '}') {
    ++i;
    skip_space();
    return i == text.size() ? std::optional<json::array>(std::move(out)) : std::nullopt;
  }
  while (true) {
    skip_space();
    if (i >= text.size()) return std::nullopt;
    if (text[i] == '"') {
      std::string element;
      ++i;
      while (i < text.size() && text[i] != '"') {
        if (text[i] == '\\' && i + 1 < text.size()) ++i;
        element.push_back(text[i++]);
      }
      if (i >= text.size()) return std::nullopt;
      ++i;
      out.push_back(json::value(element));
    } else {
      size_t start = i;
      while (i < text.size() && text[i] != ',' && text[i] != '}') {
        if (text[i] == '"' || text[i] == '{' || text[i] == '\\') return std::nullopt;
        ++i;
      }
      std::string_view element = text.substr(start, i - start);
      while (!element.empty() && std::isspace(static_cast<unsigned char>(element.back())))
        element.remove_suffix(1);
      if (element.empty()) return std::nullopt;
      if (ascii_lower(element) == "null") {
        out.push_back(nullptr);
      } else {
        out.push_back(json::value(element));
      }
    }
    skip_space();
    if (i >= text.size()) return std::nullopt;
    if (text[i] == '}') {
      ++i;
      break;
    }
    if (text[i] != ',') return std::nullopt;
    ++i;
  }
  skip_space();
  if (i != text.size()) return std::nullopt;
  return out;
}

std::string cast_target(const std::string& scalar) {
  if (scalar == "jsonb") return "String";
  return postgis::cast_target(scalar);
}

ir::BoolExpPtr and_exp(ir::BoolExpPtr a, ir::BoolExpPtr b) {
  if (!a || a->kind == ir::BoolExp::Kind::kTrue) return b;
  if (!b || b->kind == ir::BoolExp::Kind::kTrue) return a;
  return make(ir::BoolExp::Kind::kAnd, {std::move(a), std::move(b)});
}

}  // namespace liveql::compiler

// IR building: root fields and nested fields into ir::Select / ir::Aggregate, with the role's
// permission filter and limit applied and every value lifted into a Param.
#include <fmt/format.h>

#include <boost/json.hpp>
#include <set>

#include "schema/compile_stages.hpp"
#include "schema/functions.hpp"
#include "schema/json_path.hpp"

namespace liveql::compiler::detail {

namespace json = boost::json;

namespace {

// Whether a column's values are answered as JSON strings: the types Hasura stringifies under
// HASURA_GRAPHQL_STRINGIFY_NUMERIC_TYPES (wider than a double holds exactly), scalars only.
bool stringified(const Schema& schema, const catalog::Column& column) {
  if (!schema.options.stringify_numeric_types || column.is_array) return false;
  const std::string& t = column.pg_type;
  return t == "bigint" || t == "numeric" || t == "double precision" || t == "money";
}

}  // namespace

ir::Param OperationCompiler::static_param(json::value v) {
  return params_.add(std::move(v), "json");
}

Result<ir::RootField> OperationCompiler::root_field(const TypeDef& root, const Collected& c) {
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
    case FieldRole::kPlaceholder:
      rf.kind = ir::RootField::Kind::kStatic;
      rf.param = static_param(json::value(
          "There are no queries available to the current role. Either there are no sources or "
          "remote schemas configured, or the current role doesn't have the required "
          "permissions."));
      return rf;
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
    case FieldRole::kSelectConnection: {
      rf.kind = ir::RootField::Kind::kConnection;
      LQ_TRY(conn, connection(fd->table, args, c));
      rf.connection = std::move(conn);
      return rf;
    }
    case FieldRole::kNode: {
      LQ_TRY(node, node_field(args, c));
      node.alias = c.key;
      return node;
    }
    case FieldRole::kFunction:
    case FieldRole::kFunctionAggregate:
    case FieldRole::kFunctionConnection:
      return function_root(*fd, args, c);
    case FieldRole::kSelectStream:
      return stream_root(*fd, args, c);
    default:
      return make_error(ErrorCode::kUnexpected, "unexpected root field", c.path);
  }
}

Result<ir::BoolExpPtr> OperationCompiler::permission(size_t table) {
  return permission_filter(schema_, rs_, table, session_, params_);
}

namespace {

// Hasura's rule: the distinct_on columns are the first order_by columns, in any order.
Status check_distinct_on(const ir::Select& s, const std::string& path) {
  if (s.distinct_on.empty() || s.order_by.empty()) return Ok{};
  std::set<std::string> lead;
  for (const auto& o : s.order_by)
    if (o.path.empty() && lead.size() < s.distinct_on.size()) lead.insert(o.column);
  if (lead != std::set<std::string>(s.distinct_on.begin(), s.distinct_on.end()))
    return invalid("\"distinct_on\" columns must match initial \"order_by\" columns",
                   path + ".args");
  return Ok{};
}

}  // namespace

// Rows of `table` for a root/array field (args: where, order_by, ...), or a by_pk lookup.
Result<ir::Select> OperationCompiler::rows(size_t table, const json::object& args,
                                           const std::string& path, bool by_pk) {
  const TrackedTable& tt = schema_.tables[table];
  const RoleTable* rt = rs_.table(table);
  ir::Select s;
  s.table = tt.table.name;
  s.primary_key = tt.table.primary_key;
  LQ_TRY(named, rows_named(table, args, path + ".args.where", by_pk));
  s.where = named;
  LQ_TRY(perm, permission(table));
  s.where = and_exp(s.where, perm);
  if (!by_pk) {
    if (const json::value* o = args.if_contains("order_by"); o && o->is_array())
      for (const auto& item : o->get_array())
        if (auto r = order_by(table, item, {}, s.order_by); !r) return r.take_error();
    if (const json::value* d = args.if_contains("distinct_on"); d && d->is_array())
      for (const auto& item : d->get_array())
        s.distinct_on.push_back(*tt.postgres_column(std::string(item.get_string())));
    if (auto r = check_distinct_on(s, path); !r) return r.take_error();
    if (const json::value* l = args.if_contains("limit"); l && !l->is_null()) {
      if (l->get_int64() < 0) return invalid("unexpected negative value", path + ".args.limit");
      s.limit = params_.add(*l, "integer");
    }
    if (const json::value* o = args.if_contains("offset"); o && !o->is_null()) {
      if (o->is_int64() && o->get_int64() < 0)
        return invalid("unexpected negative value", path + ".args.offset");
      s.offset = params_.add(*o, "bigint");
    }
  }
  if (rt && rt->permission && rt->permission->limit)
    s.permission_limit = params_.add(json::value(*rt->permission->limit), "integer");
  return s;
}

namespace {

// Hasura's asc => NULLS LAST, desc => NULLS FIRST unless the direction names them.
void set_direction(ir::OrderBy& ob, const json::value& dir) {
  std::string d(dir.get_string());
  ob.desc = d.rfind("desc", 0) == 0;
  ob.nulls_first = d == "asc_nulls_first" || d == "desc" || d == "desc_nulls_first";
}

}  // namespace

// `prefix`: the relationships walked so far (object relationships), with their filters.
Status OperationCompiler::order_by(size_t table, const json::value& item, const ir::OrderBy& prefix,
                                   std::vector<ir::OrderBy>& out) {
  if (!item.is_object()) return Ok{};
  const TrackedTable& tt = schema_.tables[table];
  for (const auto& kv : item.get_object()) {
    if (kv.value().is_null()) continue;
    std::string key(kv.key());
    if (const std::string* col = tt.postgres_column(key)) {
      ir::OrderBy ob = prefix;
      ob.column = *col;
      set_direction(ob, kv.value());
      out.push_back(std::move(ob));
      continue;
    }
    if (const ComputedField* cf = tt.computed_field(key);
        cf && !cf->returns && prefix.path.empty()) {
      ir::OrderBy ob = prefix;
      LQ_TRY(call, function_call(cf->call, {}, tt.table.name, &session_, &params_, "$"));
      ob.computed = call;
      set_direction(ob, kv.value());
      out.push_back(std::move(ob));
      continue;
    }
    if (const ComputedField* cf = key.ends_with("_aggregate")
                                      ? tt.computed_field(key.substr(0, key.size() - 10))
                                      : nullptr;
        cf && cf->returns && prefix.path.empty() && kv.value().is_object()) {
      // The aggregates of a table computed field's rows the role may see: ir::OrderBy::computed
      // with `aggregate` (and `column` for a function), path_filters[0] the rows' permission.
      LQ_TRY(call, function_call(cf->call, {}, tt.table.name, &session_, &params_, "$"));
      LQ_TRY(filter, permission(*cf->returns));
      const TrackedTable& target = schema_.tables[*cf->returns];
      for (const auto& fn : kv.value().get_object()) {
        if (fn.value().is_null()) continue;
        ir::OrderBy base;
        base.computed = call;
        base.path_filters.push_back(filter);
        base.aggregate = std::string(fn.key());
        if (fn.key() == "count") {
          set_direction(base, fn.value());
          out.push_back(std::move(base));
          continue;
        }
        if (!fn.value().is_object()) continue;
        for (const auto& c : fn.value().get_object()) {
          const std::string* col = target.postgres_column(std::string(c.key()));
          if (!col || c.value().is_null()) continue;
          ir::OrderBy ob = base;
          ob.column = *col;
          set_direction(ob, c.value());
          out.push_back(std::move(ob));
        }
      }
      continue;
    }
    const Relationship* rel = tt.relationship(key);
    const bool aggregate = !rel && key.size() > 10 && key.ends_with("_aggregate");
    if (aggregate) rel = tt.relationship(key.substr(0, key.size() - 10));
    if (!rel || rel->is_array != aggregate) continue;
    ir::OrderBy next = prefix;
    next.path.push_back(join_of(*rel));
    LQ_TRY(filter, permission(rel->target));
    next.path_filters.resize(next.path.size() - 1);
    next.path_filters.push_back(filter);
    if (!aggregate) {
      if (auto r = order_by(rel->target, kv.value(), next, out); !r) return r;
      continue;
    }
    // {count: dir, <function>: {column: dir}}
    if (!kv.value().is_object()) continue;
    const TrackedTable& target = schema_.tables[rel->target];
    for (const auto& fn : kv.value().get_object()) {
      if (fn.value().is_null()) continue;
      if (fn.key() == "count") {
        ir::OrderBy ob = next;
        ob.aggregate = "count";
        set_direction(ob, fn.value());
        out.push_back(std::move(ob));
        continue;
      }
      if (!fn.value().is_object()) continue;
      for (const auto& c : fn.value().get_object()) {
        const std::string* col = target.postgres_column(std::string(c.key()));
        if (!col || c.value().is_null()) continue;
        ir::OrderBy ob = next;
        ob.aggregate = std::string(fn.key());
        ob.column = *col;
        set_direction(ob, c.value());
        out.push_back(std::move(ob));
      }
    }
  }
  return Ok{};
}

ir::Join OperationCompiler::join_of(const Relationship& rel) {
  ir::Join j;
  j.name = rel.name;
  j.target = schema_.tables[rel.target].table.name;
  j.mapping = rel.mapping;
  j.is_array = rel.is_array;
  return j;
}

Result<ir::Select> OperationCompiler::select(size_t table, const json::object& args,
                                             const Collected& c, bool by_pk) {
  LQ_TRY(s, rows(table, args, c.path, by_pk));
  LQ_TRY(fields, object_fields(table, c));
  s.fields = std::move(fields);
  return std::move(s);
}

Result<std::vector<ir::Field>> OperationCompiler::object_fields(size_t table, const Collected& c) {
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
        f.pg_enum = !schema_.tables[table].table.column(fd.column)->enum_values.empty();
        f.as_text = stringified(schema_, *schema_.tables[table].table.column(fd.column));
        {
          LQ_TRY(cell, column_filter(schema_, rs_, table, fd.column, session_, params_));
          f.cell_filter = cell;
        }
        if (const json::value* p = args.if_contains("path"); p && p->is_string()) {
          LQ_TRY(keys, json_path::parse(p->get_string(), cf.path + ".args.path"));
          if (!keys.empty())
            f.json_path = params_.add(json::array(keys.begin(), keys.end()), "text", true);
        }
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
      case FieldRole::kNodeId:
        f.kind = ir::Field::Kind::kNodeId;
        f.node_table = schema_.tables[table].table.name;
        f.node_key = schema_.tables[table].table.primary_key;
        break;
      case FieldRole::kArrayRelConnection: {
        f.kind = ir::Field::Kind::kConnection;
        f.join = join_of(*fd.rel);
        LQ_TRY(conn, connection(fd.table, args, cf));
        f.connection = std::make_shared<ir::Connection>(std::move(conn));
        break;
      }
      case FieldRole::kComputedScalar:
      case FieldRole::kComputedTable: {
        LQ_TRY(computed, computed_field(table, fd, args, cf));
        f = std::move(computed);
        if (fd.role == FieldRole::kComputedScalar) {
          LQ_TRY(cell, column_filter(schema_, rs_, table, fd.name, session_, params_));
          f.cell_filter = cell;
        }
        break;
      }
      default:
        return make_error(ErrorCode::kUnexpected, "unexpected field", cf.path);
    }
    out.push_back(std::move(f));
  }
  return out;
}

Result<ir::Aggregate> OperationCompiler::aggregate(size_t table, const json::object& args,
                                                   const Collected& c) {
  const TrackedTable& tt = schema_.tables[table];
  ir::Aggregate agg;
  LQ_TRY(r, rows(table, args, c.path, false));
  agg.rows = std::move(r);
  const TypeDef& type = *rs_.type(tt.gql_name + "_aggregate");
  LQ_TRY(collected, collect(c.sets, type, c.path));
  using Output = ir::Aggregate::Output;
  for (const auto& cf : collected) {
    Output out;
    out.alias = cf.key;
    if (cf.field->name == "__typename") {
      out.kind = Output::Kind::kTypename;
      out.typename_ = type.name;
      agg.outputs.push_back(std::move(out));
      continue;
    }
    if (cf.field->name == "nodes") {
      out.kind = Output::Kind::kNodes;
      LQ_TRY(fields, object_fields(table, cf));
      out.begin = agg.rows.fields.size();
      for (auto& f : fields) agg.rows.fields.push_back(std::move(f));
      out.end = agg.rows.fields.size();
      agg.outputs.push_back(std::move(out));
      continue;
    }
    out.kind = Output::Kind::kAggregate;
    out.begin = agg.aggregate_fields.size();
    const TypeDef& ftype = *rs_.type(tt.gql_name + "_aggregate_fields");
    LQ_TRY(fns, collect(cf.sets, ftype, cf.path));
    for (const auto& fn : fns) {
      ir::AggregateField af;
      af.alias = fn.key;
      if (fn.field->name == "__typename") {
        af.kind = ir::AggregateField::Kind::kTypename;
        af.typename_ = ftype.name;
        agg.aggregate_fields.push_back(std::move(af));
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
          const catalog::Column& column = *tt.table.column(cd.column);
          af.columns.push_back({col.key, cd.column, column.pg_type, stringified(schema_, column)});
        }
      }
      agg.aggregate_fields.push_back(std::move(af));
    }
    out.end = agg.aggregate_fields.size();
    agg.outputs.push_back(std::move(out));
  }
  return agg;
}

}  // namespace liveql::compiler::detail

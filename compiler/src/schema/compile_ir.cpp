// IR building: root fields and nested fields into ir::Select / ir::Aggregate, with the role's
// permission filter and limit applied and every value lifted into a Param.
#include <fmt/format.h>

#include <boost/json.hpp>

#include "schema/compile_stages.hpp"
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

Result<ir::BoolExpPtr> OperationCompiler::permission(size_t table) {
  return permission_filter(schema_, rs_, table, session_, params_);
}

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

Status OperationCompiler::order_by(size_t table, const json::value& item,
                                   std::vector<ir::Join> path, std::vector<ir::OrderBy>& out) {
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
        f.as_text = stringified(schema_, *schema_.tables[table].table.column(fd.column));
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
          const catalog::Column& column = *tt.table.column(cd.column);
          af.columns.push_back({col.key, cd.column, column.pg_type, stringified(schema_, column)});
        }
      }
      agg.aggregate_fields.push_back(std::move(af));
    }
  }
  return agg;
}

}  // namespace liveql::compiler::detail

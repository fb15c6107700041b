// Mutations: mutation_root fields into ir::MutationField (ir_mutation.hpp) with the role's insert,
// update and delete permissions applied (columns, `set` presets, filters, checks) and every value
// lifted into a Param. Arguments arrive coerced against the role's input types (JSON objects
// keyed by GraphQL names); the checks here that coercion already makes hold again on purpose, so
// that a type the schema got wrong cannot widen what a role may write.
#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>

#include "schema/compile_stages.hpp"
#include "schema/postgis.hpp"

namespace liveql::compiler::detail {

namespace json = boost::json;

namespace {

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string quoted_list(const std::vector<std::string>& names) {
  std::vector<std::string> q;
  for (const auto& n : names) q.push_back("\"" + n + "\"");
  return fmt::format("{}", fmt::join(q, ", "));
}

// The update operators in the order their columns are taken, with the type each one's value is
// cast to (empty: the column's own type).
struct UpdateOperator {
  const char* arg;
  ir::ColumnUpdate::Op op;
  const char* pg_type;
};
constexpr UpdateOperator kUpdateOperators[] = {
    {"_set", ir::ColumnUpdate::Op::kSet, ""},
    {"_inc", ir::ColumnUpdate::Op::kInc, ""},
    {"_append", ir::ColumnUpdate::Op::kAppend, "jsonb"},
    {"_prepend", ir::ColumnUpdate::Op::kPrepend, "jsonb"},
    {"_delete_key", ir::ColumnUpdate::Op::kDeleteKey, "text"},
    {"_delete_elem", ir::ColumnUpdate::Op::kDeleteElem, "integer"},
    {"_delete_at_path", ir::ColumnUpdate::Op::kDeleteAtPath, "text[]"},
};

}  // namespace

Result<MutationRoot> OperationCompiler::mutation_field(const TypeDef& root, const Collected& c) {
  MutationRoot m;
  m.alias = c.key;
  if (c.field->name == "__typename") {
    m.static_value = json::value(root.name);
    return m;
  }
  const FieldDef* fd = field_def(root, c.field->name, false);
  LQ_TRY(args, arguments(c, *fd));
  const size_t table = fd->table;
  const RoleTable* rt = rs_.table(table);
  ir::MutationField f;
  f.alias = c.key;
  using K = ir::MutationField::Kind;
  auto denied = [&](const char* what) {
    return make_error(ErrorCode::kPermissionError,
                      fmt::format("the role '{}' may not {} table '{}'", rs_.role, what,
                                  schema_.tables[table].gql_name),
                      c.path);
  };
  const TypeDef* out_type = rs_.type(base_name(fd->type));
  if (fd->role != FieldRole::kUpdateMany) ++statements_;
  if (fd->role == FieldRole::kFunction) return function_mutation(*fd, args, c);
  switch (fd->role) {
    case FieldRole::kInsert:
    case FieldRole::kInsertOne: {
      if (!rt || !rt->insert) return denied("insert into");
      const bool one = fd->role == FieldRole::kInsertOne;
      f.kind = one ? K::kInsertOne : K::kInsert;
      json::array objects;
      if (one) {
        objects.push_back(args.at("object"));
      } else {
        objects = args.at("objects").as_array();
      }
      m.error_path = c.path + (one ? ".args.object" : ".args.objects");
      LQ_TRY(ins,
             insert(table, objects, args.if_contains("on_conflict"), m.error_path, !one, nullptr));
      f.insert = std::move(ins);
      break;
    }
    case FieldRole::kUpdate:
    case FieldRole::kUpdateByPk: {
      if (!rt || !rt->update) return denied("update");
      const bool by_pk = fd->role == FieldRole::kUpdateByPk;
      f.kind = by_pk ? K::kUpdateByPk : K::kUpdate;
      LQ_TRY(u, update(table, args, c.path + ".args", by_pk));
      f.updates.push_back(std::move(u));
      break;
    }
    case FieldRole::kUpdateMany: {
      if (!rt || !rt->update) return denied("update");
      f.kind = K::kUpdateMany;
      const json::array& items = args.at("updates").as_array();
      // Each item is a statement of its own: bounded like root fields, before any is built.
      statements_ += items.size();
      if (statements_ > limits_.max_root_fields)
        return make_error(ErrorCode::kValidationFailed,
                          fmt::format("the mutation runs {} statements, more than the limit of {} "
                                      "(--max-root-fields)",
                                      statements_, limits_.max_root_fields),
                          "$");
      size_t i = 0;
      for (const auto& item : items) {
        LQ_TRY(u, update(table, item.as_object(), fmt::format("{}.args.updates[{}]", c.path, i++),
                         false));
        f.updates.push_back(std::move(u));
      }
      break;
    }
    case FieldRole::kDelete:
    case FieldRole::kDeleteByPk: {
      if (!rt || !rt->del) return denied("delete from");
      const bool by_pk = fd->role == FieldRole::kDeleteByPk;
      f.kind = by_pk ? K::kDeleteByPk : K::kDelete;
      LQ_TRY(d, remove(table, args, c.path + ".args", by_pk));
      f.del = std::move(d);
      break;
    }
    default:
      return make_error(ErrorCode::kUnexpected, "unexpected mutation root field", c.path);
  }
  if (f.kind == K::kInsertOne || f.kind == K::kUpdateByPk || f.kind == K::kDeleteByPk) {
    LQ_TRY(one, returning(table, c));
    f.returning_one = std::move(one);
  } else {
    if (!out_type) return make_error(ErrorCode::kUnexpected, "no mutation response type", c.path);
    LQ_TRY(output, mutation_output(table, *out_type, c));
    f.output = std::move(output);
  }
  m.write = std::move(f);
  return m;
}

// A permission's filter or check, for this session; null when it is empty (always true).
Result<ir::BoolExpPtr> OperationCompiler::write_permission(size_t table,
                                                           const json::value& filter) {
  if (filter.is_null() || (filter.is_object() && filter.get_object().empty()))
    return ir::BoolExpPtr();
  FilterContext ctx{schema_, nullptr, &session_, &params_};
  LQ_TRY(e, bool_exp(ctx, table, filter, "$"));
  if (e->kind == ir::BoolExp::Kind::kTrue) return ir::BoolExpPtr();
  return e;
}

// A permission's `set`: literals as they are, session variables from the session (a missing
// one fails the operation, as in Hasura), each cast to its column's type.
Result<std::vector<ir::ColumnValue>> OperationCompiler::presets(
    size_t table, const std::vector<metadata::ColumnPreset>& set) {
  const TrackedTable& tt = schema_.tables[table];
  std::vector<ir::ColumnValue> out;
  for (const auto& p : set) {
    const catalog::Column* col = tt.table.column(p.column);
    if (!col) {
      const std::string* pg = tt.postgres_column(p.column);
      col = pg ? tt.table.column(*pg) : nullptr;
    }
    if (!col)
      return make_error(ErrorCode::kUnexpected,
                        fmt::format("preset of unknown column '{}'", p.column));
    json::value v = p.value;
    if (p.session_variable) {
      auto it = session_.variables.find(*p.session_variable);
      if (it == session_.variables.end())
        return make_error(ErrorCode::kNotFound,
                          fmt::format("missing session variable: \"{}\"", *p.session_variable));
      v = json::value(it->second);
    }
    out.push_back({col->name, params_.add(std::move(v), cast_type(*col))});
  }
  return out;
}

// One insert level: `objects` are rows of `table` (GraphQL names, relationships as
// {data, on_conflict}); `path` names the rows argument ("[i]" is appended when `indexed`).
Result<ir::Insert> OperationCompiler::insert(size_t table, const json::array& objects,
                                             const json::value* conflict, const std::string& path,
                                             bool indexed, const ParentLink* parent) {
  const TrackedTable& tt = schema_.tables[table];
  const RoleTable* rt = rs_.table(table);
  ir::Insert ins;
  ins.table = tt.table.name;
  ins.primary_key = tt.table.primary_key;
  LQ_TRY(check, write_permission(table, rt->insert->check));
  ins.check = check;
  LQ_TRY(preset, presets(table, rt->insert->set));
  for (size_t i = 0; i < objects.size(); ++i) {
    const std::string row_path = indexed ? fmt::format("{}[{}]", path, i) : path;
    if (!objects[i].is_object()) return invalid("expected an object", row_path);
    LQ_TRY(row, insert_row(table, objects[i].get_object(), row_path, parent));
    // A preset always wins over the request's value.
    std::erase_if(row.values, [&](const ir::ColumnValue& v) {
      return std::any_of(preset.begin(), preset.end(),
                         [&](const ir::ColumnValue& p) { return p.column == v.column; });
    });
    row.values.insert(row.values.end(), preset.begin(), preset.end());
    ins.rows.push_back(std::move(row));
  }
  if (conflict && !conflict->is_null()) {
    const std::string cpath = path.substr(0, path.rfind('.')) + ".on_conflict";
    if (!rt->update)
      return invalid(
          fmt::format("the role may not update table '{}', so it cannot upsert", tt.gql_name),
          cpath);
    LQ_TRY(oc, on_conflict(table, conflict->as_object(), cpath));
    ins.on_conflict = std::move(oc);
  }
  return ins;
}

// Whether an object relationship's row is inserted after its parent: when the foreign key is
// the target's, referencing this table (foreign_key_constraint_on: {table, column}), or a manual
// one says insertion_order: after_parent.
bool OperationCompiler::after_parent(size_t table, const Relationship& rel) const {
  for (const auto& r : schema_.tables[table].meta.object_relationships)
    if (r.name == rel.name) return r.fk_table.has_value() || r.insert_after_parent;
  return false;
}

Result<ir::InsertRow> OperationCompiler::insert_row(size_t table, const json::object& object,
                                                    const std::string& path,
                                                    const ParentLink* parent) {
  const TrackedTable& tt = schema_.tables[table];
  const RoleTable* rt = rs_.table(table);
  const std::string input_type = tt.gql_name + "_insert_input";
  ir::InsertRow row;
  std::vector<std::pair<const Relationship*, const json::value*>> rels;
  std::vector<std::string> from_parent;
  for (const auto& kv : object) {
    const std::string key(kv.key());
    if (const std::string* col = tt.postgres_column(key)) {
      if (!contains(rt->insert_columns, *col))
        return invalid(fmt::format("field '{}' not found in type: '{}'", key, input_type),
                       path + "." + key);
      if (parent && contains(parent->columns, *col)) from_parent.push_back(key);
      if (auto s =
              postgis::check_column_value(*tt.table.column(*col), kv.value(), path + "." + key);
          !s)
        return s.take_error();
      row.values.push_back({*col, params_.add(kv.value(), cast_type(*tt.table.column(*col)))});
      continue;
    }
    const Relationship* rel = tt.relationship(key);
    const RoleTable* target = rel ? rs_.table(rel->target) : nullptr;
    if (!rel || !target || !target->insert)
      return invalid(fmt::format("field '{}' not found in type: '{}'", key, input_type),
                     path + "." + key);
    if (!kv.value().is_null()) rels.emplace_back(rel, &kv.value());
  }
  if (!from_parent.empty())
    return invalid(fmt::format("cannot insert {} columns as their values are already being "
                               "determined by parent insert",
                               quoted_list(from_parent)),
                   path);
  for (const auto& [rel, value] : rels) {
    const std::string rpath = path + "." + rel->name;
    const json::object& arg = value->as_object();
    const json::value* conflict = arg.if_contains("on_conflict");
    ir::NestedInsert nested;
    nested.join = join_of(*rel);
    if (!rel->is_array && !after_parent(table, *rel)) {
      // The parent takes its linked columns from the inserted row: it may not give them too.
      std::vector<std::string> given;
      for (const auto& [mine, theirs] : rel->mapping)
        for (const auto& v : row.values)
          if (v.column == mine) given.push_back(*tt.graphql_column(mine));
      if (!given.empty())
        return invalid(fmt::format("cannot insert object relationship \"{}\" as {} column values "
                                   "are already determined",
                                   rel->name, quoted_list(given)),
                       rpath);
      json::array one;
      one.push_back(arg.at("data"));
      LQ_TRY(ins, insert(rel->target, one, conflict, rpath + ".data", false, nullptr));
      nested.insert = std::make_shared<const ir::Insert>(std::move(ins));
      row.object_relationships.push_back(std::move(nested));
    } else {
      // An array relationship, or an object relationship through the target's foreign key to
      // this table: the rows take their linked columns from the parent, written first.
      ParentLink link;
      for (const auto& [mine, theirs] : rel->mapping) link.columns.push_back(theirs);
      json::array rows;
      if (rel->is_array) {
        rows = arg.at("data").as_array();
      } else {
        rows.push_back(arg.at("data"));
      }
      LQ_TRY(ins, insert(rel->target, rows, conflict, rpath + ".data", rel->is_array, &link));
      if (ins.rows.empty()) continue;
      nested.insert = std::make_shared<const ir::Insert>(std::move(ins));
      row.array_relationships.push_back(std::move(nested));
    }
  }
  return row;
}

// on_conflict {constraint, update_columns, where}: an upsert, guarded by the update permission
// (its filter on the existing row, its check on the updated one, its presets, its columns).
Result<ir::OnConflict> OperationCompiler::on_conflict(size_t table, const json::object& arg,
                                                      const std::string& path) {
  const TrackedTable& tt = schema_.tables[table];
  const RoleTable* rt = rs_.table(table);
  ir::OnConflict oc;
  oc.constraint = std::string(arg.at("constraint").as_string());
  if (const json::value* cols = arg.if_contains("update_columns"); cols && cols->is_array()) {
    for (const auto& c : cols->get_array()) {
      const std::string name(c.as_string());
      const std::string* pg = tt.postgres_column(name);
      if (!pg || !contains(rt->update_columns, *pg))
        return invalid(
            fmt::format("column '{}' of table '{}' may not be updated", name, tt.gql_name),
            path + ".update_columns");
      if (!contains(oc.update_columns, *pg)) oc.update_columns.push_back(*pg);
    }
  }
  if (oc.update_columns.empty()) return oc;  // DO NOTHING: no update is made
  if (const json::value* w = arg.if_contains("where"); w && !w->is_null()) {
    FilterContext ctx{schema_, &rs_, &session_, &params_};
    LQ_TRY(where, bool_exp(ctx, table, *w, path + ".where"));
    if (where->kind != ir::BoolExp::Kind::kTrue) oc.where = where;
  }
  LQ_TRY(filter, write_permission(table, rt->update->filter));
  oc.where = and_exp(oc.where, filter);
  LQ_TRY(check, write_permission(table, rt->update->check));
  oc.check = check;
  LQ_TRY(preset, presets(table, rt->update->set));
  std::erase_if(oc.update_columns, [&](const std::string& c) {
    return std::any_of(preset.begin(), preset.end(),
                       [&](const ir::ColumnValue& p) { return p.column == c; });
  });
  oc.update_presets = std::move(preset);
  return oc;
}

Result<ir::BoolExpPtr> OperationCompiler::key_equality(size_t table, const json::object& keys) {
  const TrackedTable& tt = schema_.tables[table];
  std::vector<ir::BoolExpPtr> parts;
  for (const auto& k : tt.table.primary_key) {
    const std::string& name = *tt.graphql_column(k);
    const json::value* v = keys.if_contains(name);
    if (!v) return invalid(fmt::format("missing required field '{}'", name));
    auto e = std::make_shared<ir::BoolExp>();
    e->kind = ir::BoolExp::Kind::kCompare;
    e->column = k;
    e->column_type = cast_type(*tt.table.column(k));
    e->column_is_enum = !tt.table.column(k)->enum_values.empty();
    e->op = ir::CompareOp::kEq;
    e->param = params_.add(*v, e->column_type);
    parts.push_back(std::move(e));
  }
  auto all = std::make_shared<ir::BoolExp>();
  all->kind = ir::BoolExp::Kind::kAnd;
  all->children = std::move(parts);
  return ir::BoolExpPtr(std::move(all));
}

Result<ir::BoolExpPtr> OperationCompiler::rows_named(size_t table, const json::object& args,
                                                     const std::string& where_path, bool by_pk) {
  if (by_pk) return key_equality(table, args);
  const json::value* w = args.if_contains("where");
  if (!w || w->is_null()) return ir::BoolExpPtr();
  FilterContext ctx{schema_, &rs_, &session_, &params_};
  LQ_TRY(where, bool_exp(ctx, table, *w, where_path));
  return where->kind == ir::BoolExp::Kind::kTrue ? ir::BoolExpPtr() : where;
}

// update_<t> / update_<t>_by_pk / one item of update_<t>_many. `path` is the arguments' path.
Result<ir::Update> OperationCompiler::update(size_t table, const json::object& args,
                                             const std::string& path, bool by_pk) {
  const TrackedTable& tt = schema_.tables[table];
  const RoleTable* rt = rs_.table(table);
  ir::Update u;
  u.table = tt.table.name;
  u.primary_key = tt.table.primary_key;
  LQ_TRY(rows, rows_named(table, by_pk ? args.at("pk_columns").as_object() : args, path + ".where",
                          by_pk));
  u.where = rows;
  LQ_TRY(filter, write_permission(table, rt->update->filter));
  u.where = and_exp(u.where, filter);

  std::vector<std::string> seen, repeated;
  for (const auto& op : kUpdateOperators) {
    const json::value* given = args.if_contains(op.arg);
    if (!given || given->is_null()) continue;
    const std::string type = tt.gql_name + op.arg + "_input";
    for (const auto& kv : given->as_object()) {
      const std::string key(kv.key());
      const std::string* col = tt.postgres_column(key);
      if (!col || !contains(rt->update_columns, *col))
        return invalid(fmt::format("field '{}' not found in type: '{}'", key, type),
                       path + "." + op.arg + "." + key);
      if (contains(seen, key)) {
        if (!contains(repeated, key)) repeated.push_back(key);
        continue;
      }
      seen.push_back(key);
      ir::ColumnUpdate cu;
      cu.op = op.op;
      cu.column = *col;
      const std::string pg_type = *op.pg_type ? op.pg_type : cast_type(*tt.table.column(*col));
      if (auto s = postgis::check_column_value(*tt.table.column(*col), kv.value(),
                                               path + "." + op.arg + "." + key);
          !s)
        return s.take_error();
      cu.param = params_.add(kv.value(), pg_type);
      u.set.push_back(std::move(cu));
    }
  }
  if (!repeated.empty())
    return invalid(fmt::format("Column found in multiple operators: {}.", quoted_list(repeated)),
                   path);
  LQ_TRY(preset, presets(table, rt->update->set));
  for (auto& p : preset) {
    std::erase_if(u.set, [&](const ir::ColumnUpdate& c) { return c.column == p.column; });
    u.set.push_back({ir::ColumnUpdate::Op::kSet, p.column, std::move(p.param)});
  }
  // Nothing to write: Hasura answers no row at all (affected_rows 0), not the matching rows.
  if (u.set.empty()) {
    auto none = std::make_shared<ir::BoolExp>();
    none->kind = ir::BoolExp::Kind::kFalse;
    u.where = none;
  }
  LQ_TRY(check, write_permission(table, rt->update->check));
  u.check = check;
  return u;
}

// delete_<t>(where) / delete_<t>_by_pk(<key columns>). `path` is the arguments' path.
Result<ir::Delete> OperationCompiler::remove(size_t table, const json::object& args,
                                             const std::string& path, bool by_pk) {
  const TrackedTable& tt = schema_.tables[table];
  const RoleTable* rt = rs_.table(table);
  ir::Delete d;
  d.table = tt.table.name;
  LQ_TRY(rows, rows_named(table, args, path + ".where", by_pk));
  d.where = rows;
  LQ_TRY(filter, write_permission(table, rt->del->filter));
  d.where = and_exp(d.where, filter);
  return d;
}

// <t>_mutation_response { affected_rows returning { .. } __typename }.
Result<std::vector<ir::MutationOutputField>> OperationCompiler::mutation_output(
    size_t table, const TypeDef& type, const Collected& c) {
  LQ_TRY(collected, collect(c.sets, type, c.path));
  std::vector<ir::MutationOutputField> out;
  for (const auto& cf : collected) {
    ir::MutationOutputField o;
    o.alias = cf.key;
    if (cf.field->name == "__typename") {
      o.kind = ir::MutationOutputField::Kind::kTypename;
      o.typename_ = type.name;
    } else if (type.field(cf.field->name)->role == FieldRole::kReturning) {
      o.kind = ir::MutationOutputField::Kind::kReturning;
      LQ_TRY(sel, returning(table, cf));
      o.returning = std::move(sel);
    } else {
      o.kind = ir::MutationOutputField::Kind::kAffectedRows;
    }
    out.push_back(std::move(o));
  }
  return out;
}

// The written rows with the role's select columns (the object type's fields), relationships and
// aggregates as in any query. As in Hasura, the select permission's filter does not hide a
// written row itself (the role just wrote it); relationships are filtered by their own tables'.
Result<ir::Select> OperationCompiler::returning(size_t table, const Collected& c) {
  const TrackedTable& tt = schema_.tables[table];
  ir::Select s;
  s.table = tt.table.name;
  s.primary_key = tt.table.primary_key;
  LQ_TRY(fields, object_fields(table, c));
  s.fields = std::move(fields);
  return s;
}

}  // namespace liveql::compiler::detail

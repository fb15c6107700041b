// IR building for tracked functions and computed fields: the call with the request's `args`
// and the session, and the return table's rows under the role's permission, as for a table.
#include <boost/json.hpp>

#include "schema/compile_stages.hpp"
#include "schema/functions.hpp"

namespace liveql::compiler::detail {

namespace json = boost::json;

namespace {

const json::object& args_object(const json::object& args) {
  static const json::object kEmpty;
  const json::value* a = args.if_contains("args");
  return a && a->is_object() ? a->get_object() : kEmpty;
}

}  // namespace

Result<ir::RootField> OperationCompiler::function_root(const FieldDef& fd, const json::object& args,
                                                       const Collected& c) {
  const TrackedFunction& tf = *fd.function_def;
  const TrackedTable& tt = schema_.tables[tf.table];
  LQ_TRY(call, function_call(tf.call, args_object(args), tt.table.name, &session_, &params_,
                             c.path + ".args.args"));
  ir::RootField rf;
  rf.alias = c.key;
  if (fd.role == FieldRole::kFunctionConnection) {
    rf.kind = ir::RootField::Kind::kConnection;
    LQ_TRY(conn, connection(tf.table, args, c));
    rf.connection = std::move(conn);
    rf.connection.rows.function = call;
    return rf;
  }
  if (fd.role == FieldRole::kFunctionAggregate) {
    rf.kind = ir::RootField::Kind::kAggregate;
    LQ_TRY(agg, aggregate(tf.table, args, c));
    rf.aggregate = std::move(agg);
    rf.aggregate.rows.function = call;
    return rf;
  }
  // A function returning one row answers an object (or null), as a by_pk field does.
  rf.kind = tf.call.function.returns_set ? ir::RootField::Kind::kSelect
                                         : ir::RootField::Kind::kSelectByPk;
  LQ_TRY(sel, select(tf.table, args, c, false));
  rf.select = std::move(sel);
  rf.select.function = call;
  return rf;
}

Result<MutationRoot> OperationCompiler::function_mutation(const FieldDef& fd,
                                                          const json::object& args,
                                                          const Collected& c) {
  const TrackedFunction& tf = *fd.function_def;
  const TrackedTable& tt = schema_.tables[tf.table];
  LQ_TRY(call, function_call(tf.call, args_object(args), tt.table.name, &session_, &params_,
                             c.path + ".args.args"));
  LQ_TRY(sel, select(tf.table, args, c, false));
  sel.function = call;
  ir::MutationField f;
  f.alias = c.key;
  f.kind = tf.call.function.returns_set ? ir::MutationField::Kind::kFunction
                                        : ir::MutationField::Kind::kFunctionOne;
  f.function_rows = std::move(sel);
  MutationRoot m;
  m.alias = c.key;
  m.write = std::move(f);
  return m;
}

Result<ir::Field> OperationCompiler::computed_field(size_t table, const FieldDef& fd,
                                                    const json::object& args, const Collected& c) {
  const ComputedField& cf = *fd.computed;
  const TrackedTable& tt = schema_.tables[table];
  LQ_TRY(call, function_call(cf.call, args_object(args), tt.table.name, &session_, &params_,
                             c.path + ".args.args"));
  ir::Field f;
  f.alias = c.key;
  f.call = call;
  if (!cf.returns) {
    f.kind = ir::Field::Kind::kComputed;
    f.pg_type = cf.scalar.pg_type;
    const std::string& t = cf.scalar.pg_type;
    f.as_text = schema_.options.stringify_numeric_types && !cf.scalar.is_array &&
                (t == "bigint" || t == "numeric" || t == "double precision" || t == "money");
    return f;
  }
  f.kind = ir::Field::Kind::kArrayRel;
  f.join.name = cf.name;
  f.join.target = schema_.tables[*cf.returns].table.name;
  f.join.is_array = true;
  LQ_TRY(sel, select(*cf.returns, args, c, false));
  sel.function = call;
  f.select = std::make_shared<ir::Select>(std::move(sel));
  return f;
}

}  // namespace liveql::compiler::detail

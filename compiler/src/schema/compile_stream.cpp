// A streaming subscription's root field, <t>_stream(batch_size, cursor, where), into one batch:
// the rows of the table past the cursor under the role's permission and `where`, ordered by the
// cursor column, at most batch_size of them (and at most the permission's limit). One cursor
// column, as Hasura v2 supports.
#include <fmt/format.h>

#include <boost/json.hpp>

#include "schema/compile_stages.hpp"

namespace liveql::compiler::detail {

namespace json = boost::json;

Result<ir::RootField> OperationCompiler::stream_root(const FieldDef& fd, const json::object& args,
                                                     const Collected& c) {
  const TrackedTable& tt = schema_.tables[fd.table];
  const std::string path = c.path + ".args";

  // Hasura's reading: every non-null cursor item contributes the columns its initial_value
  // gives (a null column value counts as absent), and exactly one column must result.
  struct Item {
    std::string column;  // Postgres name
    json::value value;
    bool desc = false;
  };
  std::vector<Item> items;
  if (const json::value* cursor = args.if_contains("cursor"); cursor && cursor->is_array()) {
    for (const auto& element : cursor->get_array()) {
      if (!element.is_object()) continue;
      const json::object& item = element.get_object();
      bool desc = false;
      if (const json::value* o = item.if_contains("ordering"); o && o->is_string())
        desc = o->get_string() == "DESC";
      const json::value* initial = item.if_contains("initial_value");
      if (!initial || !initial->is_object()) continue;
      for (const auto& kv : initial->get_object()) {
        if (kv.value().is_null()) continue;
        const std::string* column = tt.postgres_column(std::string(kv.key()));
        if (!column) continue;  // coercion already refused unknown fields
        items.push_back({*column, kv.value(), desc});
      }
    }
  }
  if (items.empty()) return invalid("one streaming column field is expected", path + ".cursor");
  if (items.size() > 1)
    return invalid("multiple column cursors are not supported yet", path + ".cursor");
  const Item& cursor = items.front();

  const json::value* batch = args.if_contains("batch_size");
  if (!batch || !batch->is_int64())
    return invalid("expected a non-negative integer", path + ".batch_size");
  if (batch->get_int64() < 0) return invalid("unexpected negative value", path + ".batch_size");

  // rows() reads `where` and the permission; a stream field has no order_by, limit or offset.
  LQ_TRY(sel, rows(fd.table, args, c.path, false));
  const catalog::Column& col = *tt.table.column(cursor.column);
  auto past = std::make_shared<ir::BoolExp>();
  past->kind = ir::BoolExp::Kind::kCompare;
  past->column = cursor.column;
  past->column_type = cast_type(col);
  past->op = cursor.desc ? ir::CompareOp::kLt : ir::CompareOp::kGt;
  past->param = params_.add(cursor.value, cast_type(col));
  sel.where = and_exp(sel.where, ir::BoolExpPtr(past));
  ir::OrderBy order;
  order.column = cursor.column;
  order.desc = cursor.desc;
  order.nulls_first = cursor.desc;  // no NULL passes the cursor: only Hasura's default matters
  sel.order_by.push_back(std::move(order));
  sel.limit = params_.add(*batch, "integer");
  LQ_TRY(fields, object_fields(fd.table, c));
  sel.fields = std::move(fields);

  ir::RootField rf;
  rf.kind = ir::RootField::Kind::kStream;
  rf.alias = c.key;
  rf.select = std::move(sel);
  rf.stream_column = cursor.column;
  rf.stream_cursor = past->param;
  rf.stream_desc = cursor.desc;
  return rf;
}

}  // namespace liveql::compiler::detail

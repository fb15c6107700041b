// subscribe() from a CompiledOperation lives apart from the rest of LiveQueries so that users of
// subscribe_sql() alone do not link the SQL generator.
#include <boost/asio/post.hpp>
#include <boost/json/serialize.hpp>

#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/dependencies.hpp"
#include "liveql/compiler/sql.hpp"
#include "liveql/live/live_queries.hpp"

namespace liveql::live {

SubscriberId LiveQueries::subscribe(const compiler::CompiledOperation& op, const std::string& role,
                                    Push push) {
  if (!op.static_data) {
    // Dependencies are extracted only for a new cohort (same role and SQL: same dependencies).
    auto dependencies = [&op] {
      return std::make_shared<const deps::Dependencies>(deps::extract_dependencies(op.ir));
    };
    for (const auto& field : op.ir.fields) {
      if (field.kind == ir::RootField::Kind::kStream) {
        return subscribe_stream(sql::multiplexed_query(op.ir), role, op.root_field_name, op.vars,
                                field.stream_cursor.key, std::move(push), dependencies);
      }
    }
    return subscribe_tracked(sql::multiplexed_query(op.ir), role, op.root_field_name, op.vars,
                             std::move(push), dependencies);
  }
  return subscribe_static(boost::json::serialize(*op.static_data), std::move(push));
}

}  // namespace liveql::live

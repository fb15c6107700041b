// Streaming subscriptions in the live core: reading a stream statement's batch columns and
// advancing a subscriber's cursor. A stream cohort's statement (compiler/sql.hpp,
// multiplexed_query of a kStream root field) answers per variable set, besides id, data and keys,
// `stream_cursor` (the cursor column's value in the batch's last row, as text; NULL when the batch
// is empty) and `stream_full` (the batch reached its limit: more rows may wait past the cursor).
// Pure: no I/O.
#pragma once

#include <boost/json/object.hpp>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "liveql/base/result.hpp"
#include "liveql/live/pg_pool.hpp"

namespace liveql::live {

// The stream columns of a statement's result, found by name once per result.
class StreamColumns {
 public:
  explicit StreamColumns(const QueryResult& result);

  // The batch's last cursor value, or nullopt when the batch is empty (or the column missing).
  std::optional<std::string_view> cursor(std::size_t row) const;
  // Whether the batch was full (false when the column is missing).
  bool full(std::size_t row) const;

 private:
  const QueryResult& result_;
  int cursor_ = -1;
  int full_ = -1;
};

// A subscriber's variables with its cursor moved: vars[cursor_key] = cursor (a JSON string,
// which the statement casts to the column's type as it casts any parameter).
struct AdvancedVars {
  boost::json::object vars;
  std::string text;  // `vars` serialized: the subscriber's new vars text (its group in a cohort)
};
// kUnexpected when `vars` is not a JSON object holding `cursor_key`.
Result<AdvancedVars> advance_cursor(std::string_view vars, const std::string& cursor_key,
                                    std::string_view cursor);

}  // namespace liveql::live

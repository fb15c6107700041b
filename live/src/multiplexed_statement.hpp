// The multiplexed statement of a cohort (compiler/sql.hpp builds its text): one row per distinct
// variable set. Parameters: $1 bigint[] row ids 1..n, $2 json[] the n variable sets, and, when
// the SQL takes it, $3 xid8[] (the transactions whose visibility the statement checks). Rows: id,
// data (the result's JSON text), keys (result keys, matcher/result_keys.hpp), and with $3
// `visible`. Pure: building parameters and reading rows, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "liveql/live/pg_pool.hpp"

namespace liveql::live {

using StatementParams = std::vector<std::optional<std::string>>;

// $1, $2 (and $3 when `takes_xid`: the xids as an array literal, or NULL when there are none)
// for these variable sets.
StatementParams statement_params(const std::vector<std::string>& vars, bool takes_xid,
                                 const std::vector<std::uint64_t>& xids);

// How many distinct variable sets the next event refetch statement of a cohort takes: the whole
// queue, from `batch_size` up to kMaxStatementGrowth × batch_size. Fewer and larger statements:
// per-statement costs (a round trip, executor start-up, the in-flight check, the rows' JSON
// assembly in liveql) are paid less often, and on a server whose cores are busy anyway a
// commit's subscribers in one statement return no later than spread over parallel ones
// (docs/BENCHMARKS.md, "One statement per commit"). Statements run in parallel only when the
// queue outgrows one statement or requests arrive while one runs.
inline constexpr std::size_t kMaxStatementGrowth = 10;
std::size_t statement_capacity(std::size_t queued, std::size_t batch_size);

// A PostgreSQL array literal of text elements: {"a","b\"c"} (each element quoted, `"` and `\`
// escaped), as $2 carries the vars.
std::string quoted_array_literal(const std::vector<std::string>& elements);

// The columns of a statement's result, found by name once per result.
struct StatementRows {
  explicit StatementRows(const QueryResult& result);

  // The row's 1-based index into the statement's `n` variable sets; 0 when missing or out of
  // range (such a row is ignored).
  std::size_t index(std::size_t row, std::size_t n) const;
  // The result's JSON text (`null` when the column is NULL or missing).
  std::string_view data(std::size_t row) const;
  // The result keys' JSON text, or nullopt when the statement has no keys column.
  std::optional<std::string_view> keys(std::size_t row) const;
  // False when a `visible` column says the statement's snapshot does not see the transaction.
  bool all_visible() const;

  std::size_t size() const { return result_.rows.size(); }

 private:
  const QueryResult& result_;
  int id_ = -1;
  int data_ = -1;
  int keys_ = -1;
  int visible_ = -1;
};

}  // namespace liveql::live

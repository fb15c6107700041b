// What the mutation generator (mutation.cpp) reuses of the query generator (generator.cpp): a
// level's rows as JSON, a bool_exp as a condition, a Param as a value, with the request's vars
// read from any SQL expression and tables optionally read from other row sources. Internal to
// liveql_sqlgen.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "liveql/compiler/catalog.hpp"
#include "liveql/compiler/ir.hpp"

namespace liveql::sql::detail {

// `parts` with `sep` between them.
inline std::string join_strings(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

// table -> a relation expression with the table's columns to read instead of the table, e.g.
// "(SELECT * FROM t UNION ALL SELECT (w1.r).* FROM w1)" for rows a statement inserted.
using TableSources = std::map<catalog::QualifiedName, std::string>;

class Generator;

// One writer per statement: the aliases it makes (t1, b2, e3, ...) are unique within it.
class SelectionWriter {
 public:
  // vars: the SQL expression of the request's vars JSON object, e.g. "$1::json".
  // sources: where relationships and bool_exp subqueries read each table (default: the table).
  SelectionWriter(std::string vars, const TableSources* sources);
  ~SelectionWriter();
  SelectionWriter(const SelectionWriter&) = delete;
  SelectionWriter& operator=(const SelectionWriter&) = delete;

  // A subquery yielding one row with column d json: sel's rows (its where, order, limit, fields
  // and relationships) as a JSON array, or when object the first row's JSON object (no row at
  // all when there is none). The top level reads its rows from `from`, a relation expression
  // with sel.table's columns.
  std::string rows_json(const ir::Select& sel, bool object, const std::string& from);

  // The condition e on the row aliased `alias`.
  std::string condition(const ir::BoolExp& e, const std::string& alias);

  // The value of p, cast to its type.
  std::string value(const ir::Param& p);

  // schema.fn(args) of a call without a row argument (a tracked function's).
  std::string call(const ir::FunctionCall& call);

 private:
  std::unique_ptr<Generator> gen_;
};

// json_build_object(key1, value1, ...) of (key literal, value expression) pairs, in order, for
// any number of pairs.
std::string json_object_sql(const std::vector<std::pair<std::string, std::string>>& pairs);

// "schema"."name"
std::string qualified(const catalog::QualifiedName& n);

}  // namespace liveql::sql::detail

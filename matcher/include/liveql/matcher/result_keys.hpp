// Result keys: the rows a subscriber's last result contains or links to, as the multiplexed SQL
// returns them per subscriber (sql.hpp): a JSON array of [ "schema.table", [cols], [values] ].
// Values are Postgres text (col::text); they are compared byte for byte with row images, which
// the replication stream delivers in the same text form.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "liveql/base/result.hpp"

namespace liveql::matcher {

struct ResultKey {
  std::string table;  // "schema.table"
  std::vector<std::string> columns;
  std::vector<std::optional<std::string>> values;  // same length as columns; nullopt = NULL
  bool operator==(const ResultKey&) const = default;
};

using ResultKeys = std::vector<ResultKey>;

// Parses the `keys` text of one result row. Errors (kUnexpected, with the JSON path) on text
// that is not JSON or not of that shape; values must be strings or null.
Result<ResultKeys> parse_result_keys(std::string_view json_text);

}  // namespace liveql::matcher

// Results written from a row image (compiler stage liveql_deps; ARCHITECTURE rule 11). A live
// query whose whole result is the one row of one table whose single-column primary key equals a
// variable (`t_by_pk(id: $id)`, or `t(where: {id: {_eq: $id}})`; other conditions, from the
// request or the role's permission, only equalities of integer, text, uuid, enum or boolean
// columns to values such as `user_id = X-Hasura-User-Id`; no limit or offset), projected to plain
// columns whose JSON form the row change's text value gives exactly (integers, booleans, text,
// varchar, uuid, enums; dates and timestamps, rewritten from their ISO text to their JSON spelling;
// a timestamptz only when the image was printed in the statement's TimeZone, which the caller
// knows: RowResult::zoned), has no need of a statement after a commit that updates that row
// while it is in the result: the new row image is the result. write_row_result() prints it as the
// multiplexed statement prints it (PostgreSQL's json_build_object and json_agg), byte for byte, so
// that the hash a later statement compares against is the same.
//
// Pure: no I/O.
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <vector>

#include "liveql/base/row_change.hpp"
#include "liveql/compiler/ir.hpp"

namespace liveql::deps {

struct RowResult {
  // How the row's text value becomes JSON.
  enum class Form {
    kNumber,  // integers: the text as is
    kBool,    // boolean: true / false
    kString,  // text, varchar, uuid, enums, and stringified integers (as_text): a JSON string
    // From PostgreSQL's ISO text (DateStyle ISO; anything else is not written) to the JSON
    // string json_build_object prints: a date as is; a timestamp with `T` for the space; a
    // timestamptz also with the zone as +HH:MM[:SS]; ±infinity as is.
    kDate,
    kTimestamp,
    kTimestamptz,
  };
  struct Column {
    std::string alias;   // the response key
    std::string column;  // empty for a __typename (then `typename_` is the value)
    Form form = Form::kString;
    std::string typename_;
  };

  catalog::QualifiedName table;
  std::string key_column;       // the single-column primary key
  std::vector<ir::Param> keys;  // the values the key equals (all must agree): vars[p.key]
  // The other equalities: the row shows only where column = vars[param.key].
  struct Check {
    std::string column;
    ir::Param param;
    bool boolean = false;  // a boolean column: its value is `true` or `false`
  };
  std::vector<Check> checks;
  std::string root_alias;
  bool object = false;  // <t>_by_pk: the row itself; otherwise a JSON array of it
  std::vector<Column> columns;
  // A column is a timestamptz: the statement prints it in its session's TimeZone, the image in
  // the replication session's. Write only when the two are the same zone.
  bool zoned = false;
};

// The operation's RowResult, or std::nullopt when its result is not one keyed row of plain
// columns (see above).
std::optional<RowResult> row_result(const ir::Operation& op);

// What a subscriber's vars select, in PostgreSQL's text form (what a change's image holds):
// the key and the checks' values, each an integer or a string (a boolean check's also a JSON
// boolean, as `true` / `false`); std::nullopt when a value is
// anything else or the key's values disagree (the subscriber is then always refetched).
struct RowKey {
  std::string key;
  std::vector<std::string> checks;  // RowResult::checks' values, in order
};
std::optional<RowKey> row_result_key(const RowResult& plan, const boost::json::object& vars);

// Whether `row` (a full new image) passes the checks: every checked column holds its value's
// text. False also when a checked column is absent or NULL: the caller refetches.
bool row_passes(const RowResult& plan, const RowKey& key, const RowImage& row);

// The `data` text of the result when `row` (a full new image) is the selected row, exactly as
// the statement prints it; std::nullopt when the image lacks a column the result shows (an
// unchanged TOASTed value) or holds a value of the wrong form.
std::optional<std::string> write_row_result(const RowResult& plan, const RowImage& row);

}  // namespace liveql::deps

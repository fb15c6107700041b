// Three-valued evaluation of a dependency predicate (deps::Predicate) over one row image, with
// one subscriber's parameter values. Pure and thread-safe.
//
// Semantics follow PostgreSQL: SQL NULL propagates through comparisons and AND/OR/NOT as in
// SQL (Kleene logic), and a row is in the result only when the predicate is TRUE. On top of
// SQL's values the evaluator tracks what it cannot know: an absent column (old images under
// REPLICA IDENTITY DEFAULT, unchanged TOASTed values), a type it cannot compare, an operator it
// does not reproduce, a NULL or missing parameter, text that does not parse. The answer is:
//  - kTrue: the predicate is certainly TRUE for this row;
//  - kFalse: it is certainly not TRUE (FALSE or NULL): the row is certainly not selected;
//  - kUnknown: it may be TRUE. The matcher treats kUnknown like kTrue (DESIGN.md rule 3).
//
// Comparable type families (column_type, modifiers ignored):
//  integers (smallint integer bigint), numeric/decimal (exact decimal comparison), real and
//  double precision (compared after rounding to the type, NaN greatest as in Postgres),
//  boolean, uuid (any input spelling), timestamp with and without time zone and date (to the
//  microsecond, ±infinity at the ends) in their ISO 8601 spellings, and for equality only
//  text/varchar/name (ordering of text depends on the collation, so _gt/_lt/_gte/_lte on text
//  are unknown) and enums (deps::Predicate spells every enum type `enum`; a label is its own
//  key, their declared order is unknown). A timestamptz parameter without a zone (read in the
//  session's TimeZone), a timestamp(p) column (parameters rounded first), other date spellings,
//  the order of enum labels and any other type (time, interval, char(n), citext, arrays, ...)
//  are unknown.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "liveql/base/row_change.hpp"
#include "liveql/compiler/dependencies.hpp"

namespace liveql::matcher {

enum class Truth { kFalse, kTrue, kUnknown };

// A subscriber's parameter values, indexed by deps::Predicate::slot (one per
// Dependencies::param_keys entry). A key missing from vars is bound to null (unknown).
using ParamValues = std::vector<boost::json::value>;
ParamValues bind_params(const deps::Dependencies& deps, const boost::json::object& vars);

Truth evaluate(const deps::Predicate& predicate, const RowImage& row, const ParamValues& params);

// The canonical equality key of a value of `pg_type`: two values of that type are equal in
// Postgres exactly when their keys are equal. std::nullopt when the type is not comparable or
// the value does not parse. value_key reads Postgres text form (row images, result keys);
// param_key reads a parameter as the SQL would cast it (JSON string, number or boolean).
std::optional<std::string> value_key(std::string_view pg_type, std::string_view text);
std::optional<std::string> param_key(std::string_view pg_type, const boost::json::value& param);

}  // namespace liveql::matcher

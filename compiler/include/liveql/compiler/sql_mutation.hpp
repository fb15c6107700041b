// SQL of mutation root fields, from the IR of ir_mutation.hpp. Pure: text in, text out; every
// value is read from the request's vars ($1::json), never written into the text.
//
// Each statement writes with data-modifying CTEs and answers in the same statement: one row, one
// text column `data` holding the root field's JSON ({"affected_rows": n, "returning": [...]}
// with the requested keys, or the row object / null of _one and _by_pk). `returning` selects
// like a query (relationships, aggregates, the select permission's filter) from the rows the
// statement wrote, as they are after it; relationships to rows inserted by the same statement
// (nested inserts) see them.
//
// Nested inserts are chained CTEs: an object relationship's row first, then the parent row
// taking its linked columns from it, then the array relationships' rows taking theirs from the
// parent. affected_rows counts the rows of every level. Insert and update permission checks are
// evaluated on the written rows in the same statement; when a row fails, the statement raises
// an error (see kRaisedPrefix; mutation_error() in pg_error.hpp maps it to Hasura's
// permission-error), so the caller's transaction rolls back.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "liveql/compiler/ir_mutation.hpp"

namespace liveql::sql {

// The statements of one root field, to run in order in the caller's transaction, each with
// one parameter $1::json (the request's vars) and each returning one row with column `data`.
// One statement for every kind but kUpdateMany, which has one per update (a later update sees
// what an earlier one wrote, as in Hasura): the caller gathers their `data` into a JSON array.
std::vector<std::string> mutation_statements(const ir::MutationField& field);

// The statements raise their own errors by casting a text starting with kRaisedPrefix to
// integer, which needs no function in the database: SQLSTATE 22P02, message
// `invalid input syntax for type integer: "liveql: <reason>"`. Reasons: kCheckViolationMarker
// (a row failed an insert or update permission check), and "cannot proceed to insert object
// relation .. / array relations since insert to table .. affects zero rows" (a nested insert's
// parent or object row was not written, its on_conflict did nothing).
inline constexpr std::string_view kRaisedPrefix = "liveql: ";
inline constexpr std::string_view kCheckViolationMarker =
    "liveql: check constraint of an insert/update permission has failed";

}  // namespace liveql::sql

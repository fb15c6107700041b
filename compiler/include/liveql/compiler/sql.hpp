// SQL generation from the IR. Pure: text in, text out. Every value is read from a per-request
// JSON object `vars` (ir::Param keys), never written into the SQL text; identifiers are quoted.
// The only literals in the text are names (GraphQL aliases, type names, table and column names
// of result keys), always escaped. Both statements are built by one generator, so a live query's
// rows are exactly what the same request would get over HTTP.
//
// JSON output is built by PostgreSQL (json_build_object / json_agg), as Hasura v2 does: numbers
// (integer, bigint, numeric) are JSON numbers, timestamps are strings as to_json prints them,
// json/jsonb are embedded, arrays are JSON arrays, an object relationship without a row is null,
// an array relationship without rows is [].
#pragma once

#include <string>
#include <string_view>

#include "liveql/compiler/ir.hpp"

namespace liveql::sql {

// One statement with one parameter, $1::json (the request's vars). Returns one row with one
// text column `data`: the JSON object of root fields, in request order.
std::string single_query(const ir::Operation& op);

// The multiplexed form for live queries. Parameters: $1::bigint[] (subscriber ids), $2::json[]
// (their vars, same length), $3::xid8[] (may be NULL: the transactions the refetch must see,
// DESIGN.md rule 8). Returns one row per id: `id` bigint, `data` text (as single_query's), `keys`
// text (the result keys, see below), `visible` boolean (false when $3 is not yet visible to the
// statement's snapshot: retry; true when $3 is NULL). A streaming subscription's (a kStream root
// field) also has, before `visible`, `stream_cursor` text (the cursor column's value in the
// batch's last row, NULL for an empty batch) and `stream_full` boolean (the batch has as many rows
// as its limit allows: more may be waiting past the new cursor).
std::string multiplexed_query(const ir::Operation& op);

// Result keys, as JSON text: an array of entries (an entry may repeat)
//   [ "schema.table", ["col", ...], ["value", ...] ]
// meaning "a row of schema.table whose columns equal these values is part of, or linked to,
// this result". Values are in Postgres text form (what col::text prints in the querying
// session). Emitted, in no particular order:
//  - the primary key of every row at every level (rows of array and object relationships,
//    by_pk, and the rows aggregated by an aggregate, even when no `nodes` are requested);
//  - for every relationship field (object, array, aggregate) of every row: the child-side
//    columns of the link with this row's values, e.g. a user 5 with `orders` yields
//    ["public.orders", ["user_id"], ["5"]], so an inserted order of user 5 matches;
//  - the same for every relationship used in the row's `where` (filters through relationships)
//    and for the first relationship of an order_by path.
// A link whose parent value is NULL is omitted (it matches no row). Aggregates and limit/offset
// make every row satisfying the predicate relevant: that is the matcher's business, the keys
// only list rows that are in the result. An operation without tables yields [].

// "name" with embedded double quotes doubled.
std::string quote_identifier(std::string_view name);
// 'text' with embedded single quotes doubled (E'' with backslashes doubled when needed, so the
// literal means the same whatever standard_conforming_strings is).
std::string quote_literal(std::string_view text);

}  // namespace liveql::sql

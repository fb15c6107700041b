// SQL generation from the IR. Pure: text in, text out. Every value is read from a per-request
// JSON object `vars` (ir::Param keys), never written into the SQL text; identifiers are quoted.
#pragma once

#include <string>

#include "liveql/compiler/ir.hpp"

namespace liveql::sql {

// One statement with one parameter, $1::json (the request's vars). Returns one row with two
// text columns: `data` (the JSON object of root fields, in request order) and `keys` (the
// result keys, see below).
std::string single_query(const ir::Operation& op);

// The multiplexed form for live queries: parameters $1::bigint[] (subscriber ids) and
// $2::json[] (their vars, same length). Returns one row per id: `id` bigint, `data` text,
// `keys` text.
std::string multiplexed_query(const ir::Operation& op);

// Result keys, as JSON text: an array of entries [ "schema.table", ["col", ...], ["v", ...] ]
// meaning "a row of schema.table whose columns equal these values (in Postgres text form, as
// col::text prints them) is part of, or linked to, this result". Emitted for the primary key of
// every row at every level and, for every relationship, the child-side columns of the link
// with the parent row's values (so an inserted child row can be matched to its parent).
// An operation without tables yields [].

}  // namespace liveql::sql

// POST /v1/live/explain (admin): a subscription's live plan as the live core would make it now,
// without subscribing: the cohort it would join or start, its mode (event or poll) and why, and
// per table it reads, the role of the table, the columns its predicate reads and how the matcher
// files it (indexed under a column, scanned, or found by link keys). The console's Analyze shows
// it next to /v1/graphql/explain's SQL and PostgreSQL plan.
//
// Runs on the caller's thread; the part that reads LiveQueries hops to the core and back.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>

#include "app.hpp"
#include "liveql/base/result.hpp"
#include "liveql/compiler/compile.hpp"
#include "operation_runner.hpp"

namespace liveql::server {

// The JSON text of
//   {root_field, role, cohort: {status: "new"|"joining", id, subscribers}, mode: "event"|"poll",
//    reason, forced_tables, tractable, sql, tables: [{table, role: "root"|"linked"|"filter_only",
//    primary_key, link_columns, columns, tractable, reason, all_rows_relevant,
//    index: {kind: "column"|"scan"|"link"|"never", column, op}}]}
// for a subscription, compiled for `session`. A subscription without SQL (only __typename) has
// "static": true and no cohort. Errors: the compiler's; kValidationFailed "only subscriptions
// have a live plan" for a query or mutation; kNotSupported when live queries are not running.
boost::asio::awaitable<Result<std::string>> explain_live(App& app, compiler::Session session,
                                                         OperationRequest request);

}  // namespace liveql::server

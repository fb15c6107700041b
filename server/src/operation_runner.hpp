// The one place that runs GraphQL operations, for every transport: HTTP (/v1/graphql, batches,
// /v1/graphql/explain) and both websocket protocols. A transport parses its envelope and
// resolves the session; the runner compiles the operation into a compiler::Plan
// (compiler/plan.hpp) and runs the plan's statements on App::pool, hopping to the core and back
// (core_query.hpp), in one transaction when the plan says so. Subscriptions are planned here and
// registered by the websocket session with LiveQueries from the plan's LivePlan.
//
// Runs on the caller's thread (a session's I/O thread, or the core); the returned awaitables
// resume there. Errors are in Hasura's shape (code, path), as the client may see them:
// visible_error() has already hidden database details from non-admins.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <optional>
#include <string>

#include "app.hpp"
#include "liveql/base/result.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/plan.hpp"

namespace liveql::server {

// One operation as every transport receives it: {query, variables, operationName}.
struct OperationRequest {
  std::string query;
  boost::json::object variables;
  std::optional<std::string> operation_name;
  bool relay = false;  // sent to /v1beta1/relay: compiled against the role's Relay schema
};

// What a client sees of a failed statement: path "$"; data exceptions (bad input values)
// verbatim, other database errors and connection losses only as "database query error" unless
// the session is admin, since they can reveal the schema or the generated SQL.
Error visible_error(Error error, const compiler::Session& session);

// What a client sees of a failed mutation statement: the database errors Hasura maps
// (sql::mutation_error: constraint violations, permission checks, data exceptions) with its
// code and message, at the failing statement's Statement::error_path, for every role; anything
// else as visible_error().
Error mutation_visible_error(Error error, const compiler::Plan& plan,
                             const compiler::Session& session);

// Compiles `request` for `session` (App::schema, App::limits). Errors: the compiler's
// (validation-failed with a path), kUnexpected "schema not loaded".
Result<compiler::Plan> plan_request(const App& app, const compiler::Session& session,
                                    const OperationRequest& request);

// The `data` of a plan that needs no statement (static_data serialized), or nullopt.
std::optional<std::string> static_result(const compiler::Plan& plan);

// Runs a query or mutation plan: static data without a round trip, otherwise its statements in
// order on the pool, in one transaction when plan.transaction (a mutation's; a plan of one
// statement runs it alone, atomic by itself, without BEGIN / COMMIT round trips). Returns
// the JSON text of `data` (Postgres' own text, spliced, never re-serialized; a mutation's
// assembled as Plan::response says). Errors: visible_error() of the database's, for a mutation
// mutation_visible_error(); kUnexpected for a result of another shape, "no database pool", or a
// subscription plan (subscriptions go to LiveQueries). Cancelling the caller cancels the
// statement (PgPool's cancellation); the result is then an error nobody reads.
boost::asio::awaitable<Result<std::string>> execute_plan(App& app, compiler::Session session,
                                                         compiler::Plan plan);

// plan_request() then execute_plan(), for transports without subscriptions (HTTP): a
// subscription is kNotSupported "subscriptions are not supported over HTTP, use websockets".
boost::asio::awaitable<Result<std::string>> run_operation(App& app, compiler::Session session,
                                                          OperationRequest request);

}  // namespace liveql::server

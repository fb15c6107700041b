// POST /v1/graphql/explain (admin) in Hasura's format. The caller (graphql_http.cpp) checks that
// the request is the admin's and reads {query: {query, variables, operationName}, user: {...}}.
//
// Runs on the caller's thread; the EXPLAIN statements hop to the core and back (core_query.hpp).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>

#include "app.hpp"
#include "liveql/base/result.hpp"
#include "liveql/compiler/compile.hpp"
#include "operation_runner.hpp"

namespace liveql::server {

// The JSON text of Hasura's explain answer, compiled for `session`:
//  - a query: [{field, sql, plan: [lines]}], one per root field in request order ("<namespace>.
//    <alias>" under a source's namespace); a static field (__typename, __schema, __type) has sql
//    and plan null. liveql adds `params`: the statement's parameters ([vars], its $1::json).
//  - a subscription: {sql, plan, variables: {session, query, synthetic, cursor}}: the multiplexed
//    statement its cohort runs, PostgreSQL's plan of it for this one subscriber, and the cohort
//    variables (compiler/explain.hpp); sql and plan null when every field is static.
// Errors: the compiler's; kInvalidParams "only queries can be explained" for a mutation (as
// Hasura); the database's as visible_error() (the caller is admin: verbatim).
boost::asio::awaitable<Result<std::string>> explain_graphql(App& app, compiler::Session session,
                                                            OperationRequest request);

}  // namespace liveql::server

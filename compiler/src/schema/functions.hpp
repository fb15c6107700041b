// Tracked SQL functions and computed fields, as the compiler stages need them: the call of a
// function with a request's `args`, the session and a row (ir::FunctionCall). The schema side
// (resolve_functions, the GraphQL types) is declared in schema.hpp and role_builder.hpp.
#pragma once

#include <boost/json/object.hpp>
#include <string>

#include "liveql/base/result.hpp"
#include "liveql/compiler/ir.hpp"
#include "schema/bool_exp.hpp"
#include "schema/schema.hpp"

namespace liveql::compiler {

// The call described by `shape` with the coerced `args` object (input name -> value; absent:
// the argument's default). A computed field's row is that of `row_table`. Errors, as Hasura's
// (code not-supported, at `path`): an omitted argument without a default, or an omitted one
// followed by a given one. session/params may be null when only checking (no values kept).
Result<ir::FunctionCallPtr> function_call(const FunctionCallShape& shape,
                                          const boost::json::object& args,
                                          const catalog::QualifiedName& row_table,
                                          const Session* session, ParamSink* params,
                                          const std::string& path);

// The session as a function's session argument sees it: {"x-hasura-role": role, variables...}.
boost::json::object session_json(const Session& session);

}  // namespace liveql::compiler

// /v1/graphql/explain in Hasura's shape, the pure half: what to EXPLAIN and the cohort variables
// a subscription would be multiplexed with. The server runs the EXPLAINs (server/src/
// graphql_explain.hpp). Pure: no I/O; runs on the caller's thread.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <optional>
#include <string>

#include "liveql/base/result.hpp"
#include "liveql/compiler/compile.hpp"
#include "liveql/compiler/plan.hpp"

namespace liveql::compiler {

// A value as Hasura's cohort variables print it (PostgreSQL's text form): a string as is,
// numbers and booleans as their literal, a list as an array literal ({1,2,3}, elements quoted
// where PostgreSQL's array syntax needs it), an object as its JSON text; null stays null.
boost::json::value cohort_text(const boost::json::value& value);

// Hasura's cohort variables of a compiled subscription:
//   {session: {<name>: value}, query: {<variable>: value}, synthetic: [value], cursor: {}}
// session: only the session variables the statement reads; query: the request's variables;
// synthetic: every value lifted from the operation (its literals and
// variables' values, ParamOrigins::query), in compile order; cursor: empty (liveql keeps no
// streaming cursor among the cohort variables). Values in cohort_text form.
boost::json::object cohort_variables(const CompiledOperation& op,
                                     const boost::json::object& request_variables);

// A subscription to explain: its multiplexed statement (none when every field is static) and
// the cohort variables. The statement's parameters are LivePlan's: one id, `vars_text` as the
// one element of $2, and $3 NULL when `takes_xid`.
struct SubscriptionExplain {
  std::optional<LivePlan> live;
  std::string vars_text;
  boost::json::object variables;
};

// plan_operation() of a compiled subscription, with its cohort variables (`request_variables`:
// the request's). Never fails.
SubscriptionExplain explain_subscription(CompiledOperation op,
                                         const boost::json::object& request_variables);

}  // namespace liveql::compiler

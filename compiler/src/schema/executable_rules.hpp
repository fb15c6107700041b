// The GraphQL spec's validation rules for executable documents (October 2021, sections 5.2-5.8)
// that look at the document as a whole, before any field is resolved: operation and fragment
// names, fragment spreads, cycles, type conditions, argument uniqueness, directive locations,
// and the variables of the selected operation. Field-level rules (fields exist, leaf
// selections, argument types, field merging) are checked while compile() collects fields.
//
// Everything here is linear in the document's size (no fragment is expanded) and iterative
// across fragments, so a chain of thousands of fragments cannot exhaust the stack; recursion
// inside one selection set is bounded by the parser's depth limits.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "liveql/base/result.hpp"
#include "liveql/compiler/ast.hpp"
#include "schema/schema.hpp"

namespace liveql::compiler::detail {

inline constexpr std::string_view kMultipleTopLevelFields = "_multiple_top_level_fields";

struct FragmentIndex {
  std::map<std::string, const gql::FragmentDefinition*, std::less<>> by_name;
  // Every fragment once, after all the fragments it spreads (the spread graph has no cycle).
  std::vector<const gql::FragmentDefinition*> dependencies_first;
};

// Errors (code kValidationFailed, path "$"), first one found:
//   multiple definitions for operation 'A'
//   multiple definitions for fragment 'F'
//   reference to undefined fragment 'F'
//   the fragment definition(s) F form a cycle
//   type 'T' not found in the schema                      (a type condition)
//   fragment 'F' cannot condition on non composite type 'Int'
//   fragment 'F' is never used
//   there can be only one argument named 'x'              (on a field or a directive)
//   directive 'skip' is not allowed on a query            (operations, fragment definitions,
//                                                          variable definitions take none, but
//                                                          a subscription may carry Hasura's
//                                                          @_multiple_top_level_fields)
Result<FragmentIndex> check_document(const gql::Document& doc, const RoleSchema& rs);

// The variable rules for one operation, through the fragments it uses: unique names, every
// variable used is defined. A variable defined and never used is accepted, as Hasura does.
// Errors:
//   multiple definitions for variable 'x'
//   unbound variable 'x'
// Only the operation that runs is checked (as Hasura does): checking every operation would cost
// operations x fragments.
Status check_variables(const gql::OperationDefinition& op, const FragmentIndex& fragments);

}  // namespace liveql::compiler::detail

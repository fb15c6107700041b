// Measures an operation against compiler::Limits before anything is collected or built: the
// fields it selects after fragment expansion, the tables and relationships among them, its root
// fields, the most aliases in one selection set and its depth. Each fragment is measured once
// (in FragmentIndex::dependencies_first order) and its size reused wherever it is spread, so the
// cost is linear in the document even when expansion would be exponential. Counts saturate at
// the largest uint64_t instead of overflowing.
#pragma once

#include <cstdint>

#include "liveql/base/result.hpp"
#include "liveql/compiler/ast.hpp"
#include "liveql/compiler/compile.hpp"
#include "schema/executable_rules.hpp"
#include "schema/schema.hpp"

namespace liveql::compiler::detail {

struct OperationSize {
  uint64_t fields = 0;       // every field, after expansion, before merging
  uint64_t relations = 0;    // fields whose rows come from a table: root fields, relationships
  uint64_t root_fields = 0;  // fields of the operation's own selection set, after expansion
  uint64_t max_aliases = 0;  // the most aliased fields in one selection set, after expansion
  uint64_t depth = 0;        // fields nested in fields (`{ a { b } }` is 2)
};

OperationSize measure(const gql::OperationDefinition& op, const FragmentIndex& fragments,
                      const RoleSchema& rs);

// The limit a query's depth is held to: max_query_depth, but never more than the IR builder and
// SQL generator can recurse through.
uint64_t effective_max_depth(const Limits& limits);

// The first limit the size exceeds, as kValidationFailed with path "$".
Status check_limits(const OperationSize& size, const Limits& limits);

}  // namespace liveql::compiler::detail

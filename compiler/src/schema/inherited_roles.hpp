// Inherited roles (Hasura v2's `inherited_roles`): a role that has no permission of its own on a
// table gets one derived from its parents' (role_set, resolved recursively: a parent may be an
// inherited role too). Runs while the schema is built, per table, before permissions are read.
//
// Select, as Hasura combines it: the rows of any parent (filter: the OR of the parents'), the
// union of their columns, the largest of their limits (parents without one do not count), and
// aggregations when any parent allows them. A column some parent lacks is nullified in the rows
// no parent having it allows (SelectPermission::column_filters).
// Insert, update and delete: inherited only when every parent that has one has the same
// permission; parents that conflict leave the role without it, as in Hasura.
#pragma once

#include <string>
#include <vector>

#include "liveql/base/result.hpp"
#include "liveql/compiler/metadata.hpp"
#include "schema/schema.hpp"

namespace liveql::compiler {

// Fails (kValidationFailed) when the inherited roles form a cycle or one names itself.
Status check_inherited_roles(const std::vector<metadata::InheritedRole>& roles);

// Appends to tt.meta the permissions each inherited role derives on this table. Column names in
// the derived select permissions are Postgres names.
void add_inherited_permissions(const std::vector<metadata::InheritedRole>& roles, TrackedTable& tt);

}  // namespace liveql::compiler

// Source customization of type names (metadata `customization.type_names`), applied to a built
// role schema as Hasura v2 does: every type the source generates (table objects, their
// aggregate, bool_exp, order_by, input and mutation types, comparison expressions, enums, the
// root field namespace's types) is renamed to `mapping[name]`, else prefix + name + suffix.
// Kept: scalars, introspection types (__*), and the roots query_root, mutation_root and
// subscription_root. Run it last, once the role's types (and its Relay schema) are complete:
// builders look types up by their own names.
#pragma once

#include "liveql/compiler/metadata.hpp"
#include "schema/schema.hpp"

namespace liveql::compiler {

// Renames rs.types and every reference to them (field, argument and input field types,
// interfaces, possible types), and records the renames in RoleSchema::renamed_types so that
// RoleSchema::type() still finds a type by the name the compiler builds it under.
void customize_type_names(RoleSchema& rs, const metadata::SourceCustomization& customization);

}  // namespace liveql::compiler

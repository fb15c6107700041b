// Source customization (metadata `customization` of the source), applied to a built role
// schema: every table root field renamed <prefix><name><suffix>, and with a namespace, the root
// fields of query_root and subscription_root moved under one field <namespace> of type
// <namespace>_query / <namespace>_subscription (FieldRole::kNamespace), as Hasura v2 does.
// Introspection fields (__schema, __type, __typename) stay at the root. Not applied: type name
// prefixes and suffixes, and the namespace for mutation_root (its fields are only renamed).
#pragma once

#include "liveql/compiler/metadata.hpp"
#include "schema/schema.hpp"

namespace liveql::compiler {

void customize_root_fields(RoleSchema& rs, const metadata::SourceCustomization& customization);

}  // namespace liveql::compiler

// Source customization (metadata `customization` of the source), applied to a built role
// schema: every table root field renamed <prefix><name><suffix>, and with a namespace, the root
// fields of query_root, subscription_root and mutation_root moved under one field <namespace> of
// type <namespace>_query / <namespace>_subscription / <namespace>_mutation_frontend
// (FieldRole::kNamespace), as Hasura v2 does. Introspection fields (__schema, __type,
// __typename) stay at the root. Type names: type_names.hpp.
#pragma once

#include "liveql/compiler/metadata.hpp"
#include "schema/schema.hpp"

namespace liveql::compiler {

void customize_root_fields(RoleSchema& rs, const metadata::SourceCustomization& customization);

}  // namespace liveql::compiler

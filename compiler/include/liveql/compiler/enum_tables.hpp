// Enum tables (metadata `is_enum: true`), as Hasura v2 has them: a table with a single text
// primary key and at most one text comment column whose rows are the values of the GraphQL enum
// `<table>_enum`, the type of every column holding a foreign key to it. The rows are part of the
// schema: the server reads them once at start, right after the catalog, with the statement built
// here, and a change to them needs a restart. Pure: the caller runs the statement.
#pragma once

#include <string>
#include <string_view>

#include "liveql/base/result.hpp"
#include "liveql/compiler/catalog.hpp"
#include "liveql/compiler/metadata.hpp"

namespace liveql::compiler {

// One statement, no parameters, returning one row with one text column: a JSON array holding,
// for each table the metadata marks is_enum whose shape can be an enum (in metadata order), its
// rows as [value, comment] pairs ordered by value. Empty when no table qualifies. Tables of
// another shape are not read; build_schema() refuses them with Hasura's reason.
std::string enum_values_query(const catalog::Catalog& catalog, const metadata::Metadata& metadata);

// Stores what enum_values_query() returned in catalog.enum_values.
Status add_enum_values(std::string_view json_text, const metadata::Metadata& metadata,
                       catalog::Catalog& catalog);

}  // namespace liveql::compiler

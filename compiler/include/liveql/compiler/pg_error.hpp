// PostgreSQL errors of mutation statements as Hasura reports them. Pure.
#pragma once

#include <optional>
#include <string_view>

#include "liveql/base/result.hpp"

namespace liveql::sql {

// The error Hasura answers for a statement that failed with `sqlstate` (PG_DIAG_SQLSTATE) and
// `message` (PG_DIAG_MESSAGE_PRIMARY):
//  - a failed insert/update permission check (the error sql_mutation.hpp's statements raise):
//    permission-error "check constraint of an insert/update permission has failed";
//  - a nested insert whose parent (or object) row was not written: not-supported "cannot
//    proceed to insert ... affects zero rows";
//  - 23502 / 23503 / 23505 / 23P01 / 23001: constraint-violation, the message prefixed with
//    "Not-NULL violation. ", "Foreign key violation. ", "Uniqueness violation. ",
//    "Exclusion violation. ", "Can not delete or update due to data being referred. ";
//    another 23xxx: constraint-violation with the message as is;
//  - 23514 (a CHECK constraint of the table): permission-error "Check constraint violation. ..."
//    (Hasura's code for it);
//  - 22025 (invalid escape sequence): bad-request; another 22xxx: data-exception;
//  - 42P10 / 42704 (on_conflict without a matching constraint, unknown constraint):
//    constraint-error.
// The path is "$"; the caller sets the root field's path. nullopt for any other state (a
// connection loss, a timeout, a bug): the caller reports it as it does for queries.
std::optional<Error> mutation_error(std::string_view sqlstate, std::string_view message);

}  // namespace liveql::sql

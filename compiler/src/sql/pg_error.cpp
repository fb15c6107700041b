#include "liveql/compiler/pg_error.hpp"

#include <string>

#include "liveql/compiler/sql_mutation.hpp"

namespace liveql::sql {

std::optional<Error> mutation_error(std::string_view sqlstate, std::string_view message) {
  auto with = [&](ErrorCode code, std::string_view prefix) {
    return make_error(code, std::string(prefix) + std::string(message));
  };
  if (sqlstate.size() != 5) return std::nullopt;
  // Raised by the statement itself (sql_mutation.hpp): the reason is the cast's input.
  if (sqlstate == "22P02") {
    if (message.find(kCheckViolationMarker) != std::string_view::npos)
      return make_error(ErrorCode::kPermissionError,
                        "check constraint of an insert/update permission has failed");
    const std::string zero_rows = "\"" + std::string(kRaisedPrefix) + "cannot proceed to insert ";
    const size_t at = message.find(zero_rows);
    if (at != std::string_view::npos && message.size() > at + zero_rows.size() &&
        message.back() == '"') {
      const size_t from = at + 1 + kRaisedPrefix.size();
      return make_error(ErrorCode::kNotSupported,
                        std::string(message.substr(from, message.size() - 1 - from)));
    }
  }
  if (sqlstate == "23502") return with(ErrorCode::kConstraintViolation, "Not-NULL violation. ");
  if (sqlstate == "23503") return with(ErrorCode::kConstraintViolation, "Foreign key violation. ");
  if (sqlstate == "23505") return with(ErrorCode::kConstraintViolation, "Uniqueness violation. ");
  if (sqlstate == "23P01") return with(ErrorCode::kConstraintViolation, "Exclusion violation. ");
  if (sqlstate == "23001")
    return with(ErrorCode::kConstraintViolation,
                "Can not delete or update due to data being referred. ");
  if (sqlstate == "23514") return with(ErrorCode::kPermissionError, "Check constraint violation. ");
  if (sqlstate.substr(0, 2) == "23") return with(ErrorCode::kConstraintViolation, "");
  if (sqlstate == "22025") return with(ErrorCode::kBadRequest, "");
  if (sqlstate.substr(0, 2) == "22") return with(ErrorCode::kDataException, "");
  if (sqlstate == "42P10" || sqlstate == "42704") return with(ErrorCode::kConstraintError, "");
  return std::nullopt;
}

}  // namespace liveql::sql

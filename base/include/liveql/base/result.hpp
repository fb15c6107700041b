// Result<T>: a value or an Error, returned at module boundaries. Errors carry a Hasura error
// code (the string clients see in extensions.code), a message for the user, and a path.
#pragma once

#include <cassert>
#include <cstddef>
#include <string>
#include <utility>
#include <variant>

namespace liveql {

// The codes Hasura puts in errors[].extensions.code.
enum class ErrorCode {
  kParseFailed,       // "parse-failed"      GraphQL syntax
  kValidationFailed,  // "validation-failed" unknown field/argument, wrong type, missing variable
  kInvalidJson,       // "invalid-json"      body is not JSON
  kBadRequest,        // "bad-request"
  kInvalidParams,     // "invalid-params"    e.g. a mutation sent to /v1/graphql/explain
  kInvalidJwt,        // "invalid-jwt"
  kJwtInvalidClaims,  // "jwt-invalid-claims"
  kJwtMissingRoleClaims,  // "jwt-missing-role-claims"
  kAccessDenied,          // "access-denied"
  kNotFound,              // "not-found"         e.g. a session variable a permission needs
  kInvalidHeaders,        // "invalid-headers"
  kNotSupported,          // "not-supported"
  kDataException,         // "data-exception"    a value Postgres rejected
  kConstraintViolation,   // "constraint-violation" a write broke a unique/foreign key/not-null
  kConstraintError,       // "constraint-error"  on_conflict names no usable constraint
  kPermissionError,       // "permission-error"  a written row failed a permission check
  kPostgresError,         // "postgres-error"
  // "postgres-error" too: the database connection failed (cannot connect, terminated backend,
  // server restart), not the statement; the statement may be retried on a new connection.
  kConnectionLost,
  // "postgres-error" too: the statement ran past the query timeout and was cancelled. Its
  // message names the limit only, never the SQL, so it need not be hidden from non-admins.
  kQueryTimeout,
  kUnexpected,  // "unexpected"
};

inline const char* error_code_name(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kUnexpected;
  std::string message;
  std::string path = "$";  // JSON path of the offending input, as Hasura reports it
  // Set when the database refused a statement (live/PgPool): its SQLSTATE (PG_DIAG_SQLSTATE),
  // and for a statement of a transaction, its index among the transaction's statements.
  std::string sqlstate;
  std::size_t statement = 0;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }
  Error&& take_error() {
    assert(!ok());
    return std::get<1>(std::move(v_));
  }

 private:
  std::variant<T, Error> v_;
};

// For operations that return nothing but may fail.
struct Ok {};
using Status = Result<Ok>;

inline Error make_error(ErrorCode code, std::string message, std::string path = "$") {
  return Error{code, std::move(message), std::move(path)};
}

inline const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kParseFailed:
      return "parse-failed";
    case ErrorCode::kValidationFailed:
      return "validation-failed";
    case ErrorCode::kInvalidJson:
      return "invalid-json";
    case ErrorCode::kBadRequest:
      return "bad-request";
    case ErrorCode::kInvalidParams:
      return "invalid-params";
    case ErrorCode::kInvalidJwt:
      return "invalid-jwt";
    case ErrorCode::kJwtInvalidClaims:
      return "jwt-invalid-claims";
    case ErrorCode::kAccessDenied:
      return "access-denied";
    case ErrorCode::kNotFound:
      return "not-found";
    case ErrorCode::kJwtMissingRoleClaims:
      return "jwt-missing-role-claims";
    case ErrorCode::kInvalidHeaders:
      return "invalid-headers";
    case ErrorCode::kNotSupported:
      return "not-supported";
    case ErrorCode::kDataException:
      return "data-exception";
    case ErrorCode::kConstraintViolation:
      return "constraint-violation";
    case ErrorCode::kConstraintError:
      return "constraint-error";
    case ErrorCode::kPermissionError:
      return "permission-error";
    case ErrorCode::kPostgresError:
    case ErrorCode::kConnectionLost:
    case ErrorCode::kQueryTimeout:
      return "postgres-error";
    case ErrorCode::kUnexpected:
      return "unexpected";
  }
  return "unexpected";
}

}  // namespace liveql

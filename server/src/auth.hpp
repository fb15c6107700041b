// Authentication and role resolution with Hasura v2's semantics (admin secret, JWT, the
// unauthorized role). Pure apart from the clock passed in; thread-safe over a const AuthConfig.
//
//  - No admin secret configured: everyone is admin; x-hasura-role picks another role and the
//    x-hasura-* headers are the session variables.
//  - x-hasura-admin-secret (or the legacy x-hasura-access-key) sent: it must match
//    ("invalid x-hasura-admin-secret/x-hasura-access-key", access-denied), then as above.
//    In these two cases only, x-hasura-use-backend-only-permissions (true/t/yes/y,
//    false/f/no/n, any case; anything else is bad-request) sets Session::backend_only.
//  - Otherwise, with a JWT secret: Authorization: Bearer <jwt>; the role is x-hasura-role (which
//    must be in x-hasura-allowed-roles) or x-hasura-default-role; session variables come from the
//    token's claims only. Without the header: the unauthorized role if configured, else
//    "Missing Authorization header in JWT authentication mode" (invalid-headers).
//  - Otherwise (admin secret only): the unauthorized role if configured, else
//    "x-hasura-admin-secret/x-hasura-access-key required, but not found" (access-denied).
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "jwt.hpp"
#include "liveql/base/result.hpp"
#include "liveql/compiler/compile.hpp"

namespace liveql::server {

struct AuthConfig {
  std::optional<std::string> admin_secret;
  std::optional<JwtConfig> jwt;
  std::optional<std::string> unauthorized_role;
};

// Builds the config from the CLI values (jwt_secret is Hasura's --jwt-secret JSON). Like Hasura,
// refuses a JWT secret or an unauthorized role without an admin secret (kBadRequest, with
// Hasura's "Fatal Error ..." wording).
Result<AuthConfig> make_auth_config(std::optional<std::string> admin_secret,
                                    std::optional<std::string> jwt_secret,
                                    std::optional<std::string> unauthorized_role);

struct AuthResult {
  compiler::Session session;
  // When the credentials stop being valid (the JWT's exp plus allowed skew); unset: never.
  std::optional<std::chrono::system_clock::time_point> expires_at;
};

// `headers`: request (or connection_init payload) headers with lower-cased names.
// `now` is the clock used for exp/nbf.
Result<AuthResult> authenticate(const std::map<std::string, std::string>& headers,
                                const AuthConfig& config,
                                std::chrono::system_clock::time_point now);

// Whether `headers` carry `Authorization: Bearer <secret>` (how Prometheus sends its
// bearer_token; used for --metrics-secret). The comparison takes the same time wherever the
// sent token first differs.
bool bearer_token_matches(const std::map<std::string, std::string>& headers,
                          const std::string& secret);

// authenticate() at the current time, session only.
Result<compiler::Session> resolve_session(const std::map<std::string, std::string>& headers,
                                          const AuthConfig& config);

}  // namespace liveql::server

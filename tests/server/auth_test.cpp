// Session resolution: admin secret, JWT, unauthorized role, with Hasura's messages and codes.
#include "auth.hpp"

#include <gtest/gtest.h>

#include "jwt_test_util.hpp"

namespace liveql::server {
namespace {

namespace json = boost::json;
using Headers = std::map<std::string, std::string>;
using test::now;

AuthConfig config(std::optional<std::string> secret, bool jwt,
                  std::optional<std::string> unauth = std::nullopt) {
  std::optional<std::string> jwt_json;
  if (jwt) jwt_json = std::string(R"({"type":"HS256","key":")") + test::kHsSecret + "\"}";
  auto c = make_auth_config(std::move(secret), jwt_json, std::move(unauth));
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  return c.value();
}

std::string token(json::object hasura_claims, json::object extra = {}) {
  json::object c{{"https://hasura.io/jwt/claims", std::move(hasura_claims)}};
  for (auto& kv : extra) c[kv.key()] = kv.value();
  return "Bearer " + test::sign_hs("HS256", c);
}

json::object user_claims() {
  return json::object{{"x-hasura-default-role", "user"},
                      {"x-hasura-allowed-roles", json::array{"user", "agent"}},
                      {"x-hasura-user-id", "42"},
                      {"x-hasura-org-ids", json::array{1, 2}},
                      {"x-hasura-level", 3}};
}

void expect_error(const Result<AuthResult>& r, ErrorCode code, const std::string& message) {
  ASSERT_FALSE(r.ok());
  EXPECT_STREQ(error_code_name(r.error().code), error_code_name(code));
  EXPECT_EQ(r.error().message, message);
}

// x-hasura-use-backend-only-permissions counts only on a request with the admin secret (or
// without any secret configured), read as Hasura reads a boolean header.
TEST(Auth, BackendOnlyPermissionsHeader) {
  auto c = config("secret", true);
  for (const char* yes : {"true", "T", "Yes", "y"}) {
    auto r = authenticate({{"x-hasura-admin-secret", "secret"},
                           {"x-hasura-role", "svc"},
                           {"x-hasura-use-backend-only-permissions", yes}},
                          c, now());
    ASSERT_TRUE(r.ok()) << yes;
    EXPECT_TRUE(r->session.backend_only) << yes;
  }
  auto no = authenticate(
      {{"x-hasura-admin-secret", "secret"}, {"x-hasura-use-backend-only-permissions", "false"}}, c,
      now());
  ASSERT_TRUE(no.ok());
  EXPECT_FALSE(no->session.backend_only);
  expect_error(authenticate({{"x-hasura-admin-secret", "secret"},
                             {"x-hasura-use-backend-only-permissions", "random"}},
                            c, now()),
               ErrorCode::kBadRequest,
               "x-hasura-use-backend-only-permissions:  Not a valid boolean text. True values are "
               "[\"true\",\"t\",\"yes\",\"y\"] and  False values are "
               "[\"false\",\"f\",\"no\",\"n\"]. All values are case insensitive");
  auto jwt = authenticate(
      {{"authorization", token(user_claims())}, {"x-hasura-use-backend-only-permissions", "true"}},
      c, now());
  ASSERT_TRUE(jwt.ok()) << jwt.error().message;
  EXPECT_FALSE(jwt->session.backend_only);
  auto open = authenticate({{"x-hasura-use-backend-only-permissions", "true"}},
                           config(std::nullopt, false), now());
  ASSERT_TRUE(open.ok());
  EXPECT_TRUE(open->session.backend_only);
}

TEST(AuthConfigTest, HasuraStartupRules) {
  EXPECT_FALSE(make_auth_config(std::nullopt, R"({"type":"HS256","key":"x"})", std::nullopt).ok());
  EXPECT_FALSE(make_auth_config(std::nullopt, std::nullopt, "anonymous").ok());
  EXPECT_FALSE(make_auth_config("s", R"({"type":"HS256","key":"short"})", std::nullopt).ok());
  EXPECT_TRUE(make_auth_config(std::nullopt, std::nullopt, std::nullopt).ok());
  EXPECT_TRUE(make_auth_config("s", std::nullopt, "anonymous").ok());
}

TEST(Auth, NoSecretEveryoneIsAdmin) {
  auto c = config(std::nullopt, false);
  auto r = authenticate({}, c, now());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->session.role, "admin");
  EXPECT_TRUE(r->session.is_admin);
  auto u = authenticate({{"x-hasura-role", "user"}, {"x-hasura-user-id", "5"}}, c, now());
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->session.role, "user");
  EXPECT_FALSE(u->session.is_admin);
  EXPECT_EQ(u->session.variables.at("x-hasura-user-id"), "5");
}

TEST(Auth, AdminSecret) {
  auto c = config("hunter2", false);
  auto r = authenticate({{"x-hasura-admin-secret", "hunter2"}}, c, now());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->session.is_admin);
  EXPECT_EQ(r->session.variables.count("x-hasura-admin-secret"), 0u);
  EXPECT_FALSE(r->expires_at.has_value());
  // Legacy header.
  EXPECT_TRUE(authenticate({{"x-hasura-access-key", "hunter2"}}, c, now()).ok());
  // Admin may act as another role with header variables.
  auto as_user = authenticate(
      {{"x-hasura-admin-secret", "hunter2"}, {"x-hasura-role", "user"}, {"x-hasura-user-id", "9"}},
      c, now());
  ASSERT_TRUE(as_user.ok());
  EXPECT_EQ(as_user->session.role, "user");
  EXPECT_FALSE(as_user->session.is_admin);
  EXPECT_EQ(as_user->session.variables.at("x-hasura-user-id"), "9");

  expect_error(authenticate({{"x-hasura-admin-secret", "wrong"}}, c, now()),
               ErrorCode::kAccessDenied, "invalid x-hasura-admin-secret/x-hasura-access-key");
  expect_error(authenticate({}, c, now()), ErrorCode::kAccessDenied,
               "x-hasura-admin-secret/x-hasura-access-key required, but not found");
}

TEST(Auth, UnauthorizedRole) {
  auto c = config("s", false, "anonymous");
  auto r = authenticate({{"x-hasura-role", "admin"}, {"x-hasura-foo", "bar"}}, c, now());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->session.role, "anonymous");  // x-hasura-role cannot escalate
  EXPECT_FALSE(r->session.is_admin);
  EXPECT_EQ(r->session.variables.at("x-hasura-foo"), "bar");

  auto j = config("s", true, "anonymous");
  auto rj = authenticate({}, j, now());
  ASSERT_TRUE(rj.ok());
  EXPECT_EQ(rj->session.role, "anonymous");
}

TEST(Auth, JwtDefaultRoleAndVariables) {
  auto c = config("s", true);
  auto exp = test::epoch(now()) + 60;
  auto r = authenticate({{"authorization", token(user_claims(), {{"exp", exp}})}}, c, now());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->session.role, "user");
  EXPECT_FALSE(r->session.is_admin);
  EXPECT_EQ(r->session.variables.at("x-hasura-user-id"), "42");
  EXPECT_EQ(r->session.variables.at("x-hasura-org-ids"), "{1,2}");
  EXPECT_EQ(r->session.variables.at("x-hasura-level"), "3");
  EXPECT_EQ(r->session.variables.count("x-hasura-allowed-roles"), 0u);
  EXPECT_EQ(r->session.variables.count("x-hasura-default-role"), 0u);
  ASSERT_TRUE(r->expires_at.has_value());
  EXPECT_EQ(test::epoch(*r->expires_at), exp);
}

TEST(Auth, JwtRoleHeader) {
  auto c = config("s", true);
  auto agent =
      authenticate({{"authorization", token(user_claims())}, {"x-hasura-role", "agent"}}, c, now());
  ASSERT_TRUE(agent.ok());
  EXPECT_EQ(agent->session.role, "agent");
  expect_error(
      authenticate({{"authorization", token(user_claims())}, {"x-hasura-role", "admin"}}, c, now()),
      ErrorCode::kAccessDenied, "Your requested role is not in allowed roles");
  // Header variables never override claims in JWT mode.
  auto r =
      authenticate({{"authorization", token(user_claims())}, {"x-hasura-user-id", "1"}}, c, now());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->session.variables.at("x-hasura-user-id"), "42");
}

TEST(Auth, JwtErrors) {
  auto c = config("s", true);
  expect_error(authenticate({}, c, now()), ErrorCode::kInvalidHeaders,
               "Missing Authorization header in JWT authentication mode");
  expect_error(authenticate({{"authorization", "Basic abc"}}, c, now()), ErrorCode::kInvalidHeaders,
               "Malformed Authorization header");
  expect_error(authenticate({{"authorization", "Bearer"}}, c, now()), ErrorCode::kInvalidHeaders,
               "Malformed Authorization header");
  expect_error(authenticate({{"authorization", token(user_claims(), {{"exp", 1}})}}, c, now()),
               ErrorCode::kInvalidJwt, "Could not verify JWT: JWTExpired");
  expect_error(authenticate({{"authorization", "Bearer a.b.c"}}, c, now()), ErrorCode::kInvalidJwt,
               "Could not verify JWT: JWSError (CompactDecodeError Base64Error)");
  auto no_allowed = user_claims();
  no_allowed.erase("x-hasura-allowed-roles");
  expect_error(authenticate({{"authorization", token(no_allowed)}}, c, now()),
               ErrorCode::kJwtInvalidClaims, "JWT claim does not contain x-hasura-allowed-roles");
  auto no_default = user_claims();
  no_default.erase("x-hasura-default-role");
  expect_error(authenticate({{"authorization", token(no_default)}}, c, now()),
               ErrorCode::kJwtInvalidClaims, "JWT claim does not contain x-hasura-default-role");
  auto bad_allowed = user_claims();
  bad_allowed["x-hasura-allowed-roles"] = "user";
  auto r = authenticate({{"authorization", token(bad_allowed)}}, c, now());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kJwtInvalidClaims);
  auto default_not_allowed = user_claims();
  default_not_allowed["x-hasura-default-role"] = "boss";
  expect_error(authenticate({{"authorization", token(default_not_allowed)}}, c, now()),
               ErrorCode::kAccessDenied, "Your requested role is not in allowed roles");
}

TEST(Auth, AdminSecretWinsOverJwt) {
  auto c = config("s", true);
  auto r =
      authenticate({{"x-hasura-admin-secret", "s"}, {"authorization", "Bearer garbage"}}, c, now());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->session.is_admin);
  expect_error(
      authenticate({{"x-hasura-admin-secret", "x"}, {"authorization", token(user_claims())}}, c,
                   now()),
      ErrorCode::kAccessDenied, "invalid x-hasura-admin-secret/x-hasura-access-key");
}

}  // namespace
}  // namespace liveql::server

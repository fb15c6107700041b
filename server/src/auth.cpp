#include "auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <sstream>

#include "liveql/base/text.hpp"

namespace liveql::server {
namespace {

namespace json = boost::json;

constexpr std::string_view kAdminSecretHeader = "x-hasura-admin-secret";
constexpr std::string_view kAccessKeyHeader = "x-hasura-access-key";
constexpr std::string_view kRoleHeader = "x-hasura-role";
constexpr std::string_view kBackendOnlyHeader = "x-hasura-use-backend-only-permissions";
constexpr std::string_view kDefaultRoleClaim = "x-hasura-default-role";
constexpr std::string_view kAllowedRolesClaim = "x-hasura-allowed-roles";

const std::string* find_header(const std::map<std::string, std::string>& h, std::string_view k) {
  auto it = h.find(std::string(k));
  return it == h.end() ? nullptr : &it->second;
}

// Comparing digests keeps the time independent of where the secrets first differ. The digest
// is fetched once: with EVP_sha512() OpenSSL 3 looks the algorithm up on every call (1.3-1.8 us
// a digest of a short secret here, 0.6 us with the fetched one).
bool secret_matches(const std::string& sent, const std::string& real) {
  static EVP_MD* const sha512 = EVP_MD_fetch(nullptr, "SHA512", nullptr);
  const EVP_MD* md = sha512 != nullptr ? sha512 : EVP_sha512();
  unsigned char a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
  unsigned int la = 0, lb = 0;
  EVP_Digest(sent.data(), sent.size(), a, &la, md, nullptr);
  EVP_Digest(real.data(), real.size(), b, &lb, md, nullptr);
  return la == lb && CRYPTO_memcmp(a, b, la) == 0;
}

std::map<std::string, std::string> header_session_variables(
    const std::map<std::string, std::string>& headers) {
  std::map<std::string, std::string> vars;
  for (const auto& [k, v] : headers) {
    if (k.rfind("x-hasura-", 0) != 0) continue;
    if (k == kAdminSecretHeader || k == kAccessKeyHeader) continue;
    vars[k] = v;
  }
  return vars;
}

compiler::Session make_session(std::string role, std::map<std::string, std::string> vars) {
  compiler::Session s;
  s.is_admin = role == "admin";
  vars[std::string(kRoleHeader)] = role;
  s.role = std::move(role);
  s.variables = std::move(vars);
  return s;
}

// x-hasura-use-backend-only-permissions, read as Hasura reads boolean header text.
Result<bool> backend_only_header(const std::map<std::string, std::string>& headers) {
  const std::string* value = find_header(headers, kBackendOnlyHeader);
  if (value == nullptr) return false;
  const std::string v = ascii_lower(*value);
  if (v == "true" || v == "t" || v == "yes" || v == "y") return true;
  if (v == "false" || v == "f" || v == "no" || v == "n") return false;
  return make_error(ErrorCode::kBadRequest,
                    std::string(kBackendOnlyHeader) +
                        ":  Not a valid boolean text. True values are [\"true\",\"t\",\"yes\","
                        "\"y\"] and  False values are [\"false\",\"f\",\"no\",\"n\"]. All "
                        "values are case insensitive");
}

// Admin (or the role x-hasura-role asks for), variables from the headers; only such a request
// may use backend_only permissions.
Result<AuthResult> admin_fallback(const std::map<std::string, std::string>& headers) {
  auto backend_only = backend_only_header(headers);
  if (!backend_only) return backend_only.take_error();
  const std::string* role = find_header(headers, kRoleHeader);
  AuthResult out{
      make_session(role && !role->empty() ? *role : "admin", header_session_variables(headers)),
      std::nullopt};
  out.session.backend_only = *backend_only;
  return out;
}

// A claim value as a session variable: strings as they are, arrays as Postgres array literals
// (x-hasura-allowed-ids: {1,2}), anything else as its JSON text.
std::string claim_text(const json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_array()) {
    std::string out = "{";
    bool first = true;
    for (const auto& e : v.get_array()) {
      if (!first) out += ',';
      first = false;
      if (e.is_string()) {
        out += '"';
        for (char c : e.get_string()) {
          if (c == '"' || c == '\\') out += '\\';
          out += c;
        }
        out += '"';
      } else {
        out += json::serialize(e);
      }
    }
    return out + "}";
  }
  return json::serialize(v);
}

Result<AuthResult> jwt_session(const std::string& authorization,
                               const std::map<std::string, std::string>& headers,
                               const JwtConfig& jwt, std::chrono::system_clock::time_point now) {
  std::istringstream words(authorization);
  std::string scheme, token, extra;
  words >> scheme >> token;
  if (scheme != "Bearer" || token.empty() || (words >> extra))
    return make_error(ErrorCode::kInvalidHeaders, "Malformed Authorization header");
  auto verified = verify_jwt(token, jwt, now);
  if (!verified) return verified.take_error();
  auto& claims = verified->hasura_claims;

  auto* allowed_v = claims.if_contains(kAllowedRolesClaim);
  if (!allowed_v)
    return make_error(ErrorCode::kJwtInvalidClaims,
                      "JWT claim does not contain " + std::string(kAllowedRolesClaim));
  std::vector<std::string> allowed;
  bool allowed_ok = allowed_v->is_array();
  if (allowed_ok) {
    for (const auto& r : allowed_v->get_array()) {
      if (!r.is_string() || r.get_string().empty()) {
        allowed_ok = false;
        break;
      }
      allowed.emplace_back(r.get_string());
    }
  }
  if (!allowed_ok)
    return make_error(ErrorCode::kJwtInvalidClaims,
                      "invalid " + std::string(kAllowedRolesClaim) +
                          "; should be a list of roles: parsing [] failed, expected Array, but "
                          "encountered " +
                          std::string(allowed_v->is_string() ? "String" : "a non-list value"));
  auto* default_v = claims.if_contains(kDefaultRoleClaim);
  if (!default_v)
    return make_error(ErrorCode::kJwtInvalidClaims,
                      "JWT claim does not contain " + std::string(kDefaultRoleClaim));
  if (!default_v->is_string() || default_v->get_string().empty())
    return make_error(ErrorCode::kJwtInvalidClaims,
                      "invalid " + std::string(kDefaultRoleClaim) +
                          "; should be a single role name: expected a non-empty String");

  std::string role(default_v->get_string());
  if (const std::string* requested = find_header(headers, kRoleHeader);
      requested && !requested->empty())
    role = *requested;
  if (std::find(allowed.begin(), allowed.end(), role) == allowed.end())
    return make_error(ErrorCode::kAccessDenied, "Your requested role is not in allowed roles");

  std::map<std::string, std::string> vars;
  for (const auto& kv : claims) {
    if (kv.key() == kAllowedRolesClaim || kv.key() == kDefaultRoleClaim) continue;
    vars[std::string(kv.key())] = claim_text(kv.value());
  }
  return AuthResult{make_session(std::move(role), std::move(vars)), verified->expires_at};
}

}  // namespace

Result<AuthConfig> make_auth_config(std::optional<std::string> admin_secret,
                                    std::optional<std::string> jwt_secret,
                                    std::optional<std::string> unauthorized_role) {
  constexpr std::string_view kRequires =
      " requires --admin-secret (HASURA_GRAPHQL_ADMIN_SECRET) or  --access-key "
      "(HASURA_GRAPHQL_ACCESS_KEY) to be set";
  if (admin_secret && admin_secret->empty()) admin_secret.reset();
  if (jwt_secret && jwt_secret->empty()) jwt_secret.reset();
  if (unauthorized_role && unauthorized_role->empty()) unauthorized_role.reset();
  if (!admin_secret && unauthorized_role)
    return make_error(ErrorCode::kBadRequest,
                      "Fatal Error: --unauthorized-role (HASURA_GRAPHQL_UNAUTHORIZED_ROLE)" +
                          std::string(kRequires));
  if (!admin_secret && jwt_secret)
    return make_error(
        ErrorCode::kBadRequest,
        "Fatal Error : --jwt-secret (HASURA_GRAPHQL_JWT_SECRET)" + std::string(kRequires));
  AuthConfig config;
  config.admin_secret = std::move(admin_secret);
  config.unauthorized_role = std::move(unauthorized_role);
  if (jwt_secret) {
    auto jwt = parse_jwt_config(*jwt_secret);
    if (!jwt) {
      Error e = jwt.take_error();
      e.message = "Fatal Error: JWT conf: " + e.message;
      return e;
    }
    config.jwt = std::move(jwt.value());
  }
  return config;
}

Result<AuthResult> authenticate(const std::map<std::string, std::string>& headers,
                                const AuthConfig& config,
                                std::chrono::system_clock::time_point now) {
  if (!config.admin_secret) return admin_fallback(headers);

  const std::string* sent = find_header(headers, kAdminSecretHeader);
  if (!sent) sent = find_header(headers, kAccessKeyHeader);
  if (sent) {
    if (!secret_matches(*sent, *config.admin_secret))
      return make_error(ErrorCode::kAccessDenied,
                        "invalid x-hasura-admin-secret/x-hasura-access-key");
    return admin_fallback(headers);
  }

  if (config.jwt) {
    if (const std::string* authz = find_header(headers, "authorization"))
      return jwt_session(*authz, headers, *config.jwt, now);
    if (!config.unauthorized_role)
      return make_error(ErrorCode::kInvalidHeaders,
                        "Missing Authorization header in JWT authentication mode");
  }
  if (config.unauthorized_role)
    return AuthResult{make_session(*config.unauthorized_role, header_session_variables(headers)),
                      std::nullopt};
  return make_error(ErrorCode::kAccessDenied,
                    "x-hasura-admin-secret/x-hasura-access-key required, but not found");
}

bool bearer_token_matches(const std::map<std::string, std::string>& headers,
                          const std::string& secret) {
  const std::string* authz = find_header(headers, "authorization");
  if (authz == nullptr) return false;
  std::istringstream words(*authz);
  std::string scheme, token, extra;
  words >> scheme >> token;
  if (scheme != "Bearer" || token.empty() || (words >> extra)) return false;
  return secret_matches(token, secret);
}

Result<compiler::Session> resolve_session(const std::map<std::string, std::string>& headers,
                                          const AuthConfig& config) {
  auto r = authenticate(headers, config, std::chrono::system_clock::now());
  if (!r) return r.take_error();
  return std::move(r->session);
}

}  // namespace liveql::server

// JWT verification as Hasura does it (--jwt-secret): compact JWS with HS256/384/512 or
// RS256/384/512 (exactly the configured one: a token's `alg` header never picks another
// algorithm, not even one of the same family), registered claims exp/nbf/iss/aud checked with
// an allowed skew, then the Hasura claims object located by namespace (or JSON path) and
// format (json or stringified).
// Pure apart from OpenSSL; thread-safe (a JwtConfig is immutable once parsed).
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "liveql/base/result.hpp"

namespace liveql::server {

enum class JwtAlgorithm { kHs256, kHs384, kHs512, kRs256, kRs384, kRs512 };

struct JwtKey;  // the parsed key (an OpenSSL EVP_PKEY or an HMAC secret), jwt.cpp

struct JwtConfig {
  JwtAlgorithm type = JwtAlgorithm::kHs256;
  std::shared_ptr<const JwtKey> key;
  std::string claims_namespace = "https://hasura.io/jwt/claims";
  // "$.a.b" or "$['a.b'].c": when set, used instead of claims_namespace.
  std::optional<std::string> claims_namespace_path;
  bool claims_stringified = false;    // claims_format: "stringified_json"
  std::vector<std::string> audience;  // empty: no audience check
  std::optional<std::string> issuer;  // unset: no issuer check
  std::chrono::seconds allowed_skew{0};
};

// Parses Hasura's --jwt-secret JSON. Errors (kBadRequest) name what is wrong, e.g.
// "Invalid JWK: Key size too small; should be at least 32 characters".
Result<JwtConfig> parse_jwt_config(std::string_view json_text);

struct VerifiedJwt {
  // The Hasura claims object (x-hasura-* keys only, lower-cased), as found in the token.
  boost::json::object hasura_claims;
  std::optional<std::chrono::system_clock::time_point> expires_at;  // `exp`, if present
};

// Verifies the compact token (signature, exp, nbf, iss, aud) at `now`, then extracts the
// Hasura claims. Errors: kInvalidJwt "Could not verify JWT: <jose error>" (JWTExpired,
// JWTNotYetValid, JWTNotInIssuer, JWTNotInAudience, JWSError JWSInvalidSignature,
// JWSError (AlgorithmMismatch "...") for an `alg` other than the configured type, ...);
// kJwtInvalidClaims for a missing or malformed claims object.
Result<VerifiedJwt> verify_jwt(std::string_view token, const JwtConfig& config,
                               std::chrono::system_clock::time_point now);

// Strict base64url (RFC 7515: no padding, no whitespace, canonical trailing bits).
std::optional<std::string> base64url_decode(std::string_view in);
std::string base64url_encode(std::string_view in);

}  // namespace liveql::server

// JWT verification: tokens are signed here with OpenSSL (HMAC, and an RSA key generated per run).
#include "jwt.hpp"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <boost/json.hpp>

#include "jwt_test_util.hpp"

namespace liveql::server {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;
using test::kHsSecret;
using test::now;
using test::rsa_key;
using test::sign_hs;
using test::sign_rs;

json::object hasura(json::object extra = {}) {
  json::object c{{"x-hasura-default-role", "user"},
                 {"x-hasura-allowed-roles", json::array{"user", "agent"}},
                 {"x-hasura-user-id", "1"}};
  for (auto& kv : extra) c[kv.key()] = kv.value();
  return c;
}

json::object claims(json::object extra = {}) {
  json::object c{{"sub", "1"}, {"https://hasura.io/jwt/claims", hasura()}};
  for (auto& kv : extra) c[kv.key()] = kv.value();
  return c;
}

JwtConfig hs_config(std::string extra = "") {
  auto c =
      parse_jwt_config(R"({"type":"HS256","key":")" + std::string(kHsSecret) + "\"" + extra + "}");
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  return c.value();
}

TEST(Base64Url, RoundTripAndStrictness) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\x00"}) {
    auto enc = base64url_encode(s);
    EXPECT_EQ(enc.find('='), std::string::npos);
    auto dec = base64url_decode(enc);
    ASSERT_TRUE(dec.has_value());
    EXPECT_EQ(*dec, s);
  }
  EXPECT_FALSE(base64url_decode("Zm9v=").has_value());  // padding
  EXPECT_FALSE(base64url_decode("Zm+v").has_value());   // base64, not base64url
  EXPECT_FALSE(base64url_decode("Z").has_value());      // impossible length
  EXPECT_FALSE(base64url_decode("Zh").has_value());     // non-zero trailing bits
  EXPECT_FALSE(base64url_decode("Zm 9v").has_value());  // whitespace
}

TEST(JwtConfig, ParsesHasuraForms) {
  auto c = parse_jwt_config(
      R"({"type":"HS512","key":")" + std::string(64, 'k') +
      R"(","claims_namespace_path":"$.hasura['claims']","claims_format":"stringified_json",)"
      R"("audience":["a","b"],"issuer":"me","allowed_skew":30})");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->type, JwtAlgorithm::kHs512);
  EXPECT_EQ(*c->claims_namespace_path, "$.hasura['claims']");
  EXPECT_TRUE(c->claims_stringified);
  EXPECT_EQ(c->audience.size(), 2u);
  EXPECT_EQ(*c->issuer, "me");
  EXPECT_EQ(c->allowed_skew, 30s);

  auto rs = parse_jwt_config(
      json::serialize(json::object{{"type", "RS256"}, {"key", rsa_key().public_pem}}));
  ASSERT_TRUE(rs.ok()) << rs.error().message;
}

TEST(JwtConfig, Rejects) {
  EXPECT_FALSE(parse_jwt_config("not json").ok());
  EXPECT_FALSE(parse_jwt_config(R"({"type":"HS256"})").ok());
  auto short_key = parse_jwt_config(R"({"type":"HS256","key":"short"})");
  ASSERT_FALSE(short_key.ok());
  EXPECT_EQ(short_key.error().message,
            "Invalid JWK: Key size too small; should be at least 32 characters");
  auto es = parse_jwt_config(R"({"type":"ES256","key":"x"})");
  ASSERT_FALSE(es.ok());
  EXPECT_EQ(es.error().message, "Invalid JWK: Key type: ES256 is not supported");
  EXPECT_FALSE(parse_jwt_config(R"({"type":"RS256","key":"not a pem"})").ok());
  EXPECT_FALSE(parse_jwt_config(R"({"type":"HS256","key":")" + std::string(32, 'k') +
                                R"(","claims_namespace":"a","claims_namespace_path":"$.b"})")
                   .ok());
}

TEST(Jwt, Hs256Valid) {
  auto cfg = hs_config();
  auto exp = test::epoch(now()) + 3600;
  auto r = verify_jwt(sign_hs("HS256", claims({{"exp", exp}})), cfg, now());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->hasura_claims.at("x-hasura-user-id").as_string(), "1");
  ASSERT_TRUE(r->expires_at.has_value());
  EXPECT_EQ(
      std::chrono::duration_cast<std::chrono::seconds>(r->expires_at->time_since_epoch()).count(),
      exp);
}

TEST(Jwt, Rs256Valid) {
  auto cfg = parse_jwt_config(
      json::serialize(json::object{{"type", "RS256"}, {"key", rsa_key().public_pem}}));
  ASSERT_TRUE(cfg.ok());
  auto r = verify_jwt(sign_rs("RS256", claims()), *cfg, now());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->expires_at.has_value());
}

TEST(Jwt, EveryConfiguredAlgorithmAcceptsItselfOnly) {
  const std::string secret(64, 'k');  // long enough for HS512
  for (std::string configured : {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512"}) {
    bool hs = configured.starts_with("HS");
    auto cfg = parse_jwt_config(json::serialize(
        json::object{{"type", configured}, {"key", hs ? secret : rsa_key().public_pem}}));
    ASSERT_TRUE(cfg.ok()) << configured;
    for (std::string signed_with : {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512"}) {
      auto token = signed_with.starts_with("HS")
                       ? test::sign_with_secret(signed_with, claims(), secret)
                       : sign_rs(signed_with, claims());
      auto r = verify_jwt(token, *cfg, now());
      if (signed_with == configured) {
        EXPECT_TRUE(r.ok()) << configured << ": " << r.error().message;
      } else {
        ASSERT_FALSE(r.ok()) << configured << " accepted a token signed with " << signed_with;
        EXPECT_EQ(r.error().code, ErrorCode::kInvalidJwt);
        EXPECT_EQ(r.error().message,
                  "Could not verify JWT: JWSError (AlgorithmMismatch \"the token is signed with " +
                      signed_with + ", expected " + configured + "\")");
      }
    }
  }
}

TEST(Jwt, Rs256FromCertificate) {
  auto cfg = parse_jwt_config(
      json::serialize(json::object{{"type", "RS256"}, {"key", rsa_key().cert_pem}}));
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_TRUE(verify_jwt(sign_rs("RS256", claims()), *cfg, now()).ok());
}

void expect_error(const Result<VerifiedJwt>& r, ErrorCode code, const std::string& message) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, code);
  EXPECT_EQ(r.error().message, message);
}

TEST(Jwt, ExpiredAndSkew) {
  auto t = test::epoch(now());
  expect_error(verify_jwt(sign_hs("HS256", claims({{"exp", t - 10}})), hs_config(), now()),
               ErrorCode::kInvalidJwt, "Could not verify JWT: JWTExpired");
  EXPECT_TRUE(verify_jwt(sign_hs("HS256", claims({{"exp", t - 10}})),
                         hs_config(",\"allowed_skew\":60"), now())
                  .ok());
}

// Found by tests/fuzz/jwt_fuzz: an exp past 2262 (system_clock's end) overflowed the conversion
// to a time_point (undefined; on x86 an expiry in 1677, so the session expired at once).
TEST(Jwt, ExpiryBeyondTheClockRangeNeverExpires) {
  for (double exp : {19'000'010'000.5, 1e300}) {
    auto r = verify_jwt(sign_hs("HS256", claims({{"exp", exp}})), hs_config(), now());
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_TRUE(r->expires_at.has_value());
    EXPECT_EQ(*r->expires_at, std::chrono::system_clock::time_point::max()) << exp;
  }
}

// Found by tests/fuzz/jwt_fuzz: a huge allowed_skew overflowed its conversion to seconds.
TEST(JwtConfig, HugeSkewIsClamped) {
  auto cfg = hs_config(",\"allowed_skew\":1e300");
  EXPECT_GT(cfg.allowed_skew, std::chrono::hours(24 * 365 * 100));
  auto t = test::epoch(now());
  EXPECT_TRUE(verify_jwt(sign_hs("HS256", claims({{"exp", t - 10}})), cfg, now()).ok());
}

// Found by tests/fuzz/jwt_fuzz: Boost.JSON reads 0e9999 as NaN, which passed the checks and
// reached an undefined conversion.
TEST(Jwt, NotANumberIsNotADate) {
  auto bad = parse_jwt_config(R"({"type":"HS256","key":")" + std::string(kHsSecret) +
                              R"(","allowed_skew":0e9999})");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "allowed_skew must be a non-negative number of seconds");
  auto token = test::sign_raw("HS256", R"({"exp":0e9999,"https://hasura.io/jwt/claims":{}})",
                              std::string(kHsSecret));
  expect_error(verify_jwt(token, hs_config(), now()), ErrorCode::kInvalidJwt,
               "Could not verify JWT: JWTClaimsSetDecodeError \"Error in $['exp']: expected a "
               "number\"");
}

TEST(Jwt, NotBefore) {
  auto t = test::epoch(now());
  expect_error(verify_jwt(sign_hs("HS256", claims({{"nbf", t + 100}})), hs_config(), now()),
               ErrorCode::kInvalidJwt, "Could not verify JWT: JWTNotYetValid");
  EXPECT_TRUE(verify_jwt(sign_hs("HS256", claims({{"nbf", t - 1}})), hs_config(), now()).ok());
}

TEST(Jwt, BadSignature) {
  auto token = sign_hs("HS256", claims());
  token.back() = token.back() == 'A' ? 'B' : 'A';
  expect_error(verify_jwt(token, hs_config(), now()), ErrorCode::kInvalidJwt,
               "Could not verify JWT: JWSError JWSInvalidSignature");
  // Same claims, different secret.
  auto other = test::sign_with_secret("HS256", claims(), std::string(40, 'z'));
  expect_error(verify_jwt(other, hs_config(), now()), ErrorCode::kInvalidJwt,
               "Could not verify JWT: JWSError JWSInvalidSignature");
  // Payload swapped under a valid signature.
  auto a = sign_hs("HS256", claims());
  auto b = sign_hs("HS256", claims({{"admin", true}}));
  auto forged = a.substr(0, a.find('.')) + b.substr(b.find('.'), b.rfind('.') - b.find('.')) +
                a.substr(a.rfind('.'));
  expect_error(verify_jwt(forged, hs_config(), now()), ErrorCode::kInvalidJwt,
               "Could not verify JWT: JWSError JWSInvalidSignature");
}

TEST(Jwt, WrongAlgorithm) {
  // Key confusion: an HS256 token "signed" with the RSA public key as secret must not pass an
  // RS256 config.
  auto cfg = parse_jwt_config(
      json::serialize(json::object{{"type", "RS256"}, {"key", rsa_key().public_pem}}));
  ASSERT_TRUE(cfg.ok());
  auto confused = test::sign_with_secret("HS256", claims(), rsa_key().public_pem);
  expect_error(verify_jwt(confused, *cfg, now()), ErrorCode::kInvalidJwt,
               "Could not verify JWT: JWSError (AlgorithmMismatch \"the token is signed with "
               "HS256, expected RS256\")");
  // RS token against an HS config.
  expect_error(verify_jwt(sign_rs("RS256", claims()), hs_config(), now()), ErrorCode::kInvalidJwt,
               "Could not verify JWT: JWSError (AlgorithmMismatch \"the token is signed with "
               "RS256, expected HS256\")");
  // Same key, stronger digest: still not what the operator configured.
  EXPECT_FALSE(verify_jwt(sign_hs("HS512", claims()), hs_config(), now()).ok());
  EXPECT_FALSE(verify_jwt(sign_hs("HS384", claims()), hs_config(), now()).ok());
  // alg none, with and without a signature; an unknown algorithm.
  for (std::string header : {R"({"alg":"none"})", R"({"alg":"None","typ":"JWT"})",
                             R"({"alg":"ES256"})", R"({"alg":""})"}) {
    for (std::string sig : {"", "AAAA"}) {
      auto token =
          base64url_encode(header) + "." + base64url_encode(json::serialize(claims())) + "." + sig;
      auto r = verify_jwt(token, hs_config(), now());
      ASSERT_FALSE(r.ok()) << header;
      EXPECT_EQ(r.error().code, ErrorCode::kInvalidJwt);
    }
  }
  // An absurd alg is cut short in the message.
  auto long_alg = base64url_encode(R"({"alg":")" + std::string(1000, 'X') + "\"}") + "." +
                  base64url_encode(json::serialize(claims())) + ".AAAA";
  auto r = verify_jwt(long_alg, hs_config(), now());
  ASSERT_FALSE(r.ok());
  EXPECT_LT(r.error().message.size(), 200u);
}

TEST(Jwt, Malformed) {
  auto cfg = hs_config();
  expect_error(verify_jwt("abc", cfg, now()), ErrorCode::kInvalidJwt,
               "Could not verify JWT: JWSError (CompactDecodeError Invalid number of parts: "
               "Expected 3 parts; got 1)");
  expect_error(verify_jwt("a.b.c.d", cfg, now()), ErrorCode::kInvalidJwt,
               "Could not verify JWT: JWSError (CompactDecodeError Invalid number of parts: "
               "Expected 3 parts; got 4)");
  EXPECT_EQ(verify_jwt("a*b.c.d", cfg, now()).error().code, ErrorCode::kInvalidJwt);
  auto bad_header = base64url_encode("{not json") + "." + base64url_encode("{}") + ".AAAA";
  EXPECT_EQ(verify_jwt(bad_header, cfg, now()).error().code, ErrorCode::kInvalidJwt);
  // Valid signature over a payload that is not JSON.
  auto not_json = test::sign_raw("HS256", "[1,2", kHsSecret);
  auto r = verify_jwt(not_json, cfg, now());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidJwt);
  EXPECT_NE(r.error().message.find("JWTClaimsSetDecodeError"), std::string::npos);
  // exp of the wrong type.
  EXPECT_EQ(verify_jwt(sign_hs("HS256", claims({{"exp", "soon"}})), cfg, now()).error().code,
            ErrorCode::kInvalidJwt);
}

TEST(Jwt, IssuerAndAudience) {
  auto cfg = hs_config(R"(,"issuer":"me","audience":"app")");
  EXPECT_TRUE(
      verify_jwt(sign_hs("HS256", claims({{"iss", "me"}, {"aud", "app"}})), cfg, now()).ok());
  EXPECT_TRUE(
      verify_jwt(sign_hs("HS256", claims({{"aud", json::array{"x", "app"}}})), cfg, now()).ok());
  expect_error(verify_jwt(sign_hs("HS256", claims({{"iss", "you"}})), cfg, now()),
               ErrorCode::kInvalidJwt, "Could not verify JWT: JWTNotInIssuer");
  expect_error(verify_jwt(sign_hs("HS256", claims({{"aud", "web"}})), cfg, now()),
               ErrorCode::kInvalidJwt, "Could not verify JWT: JWTNotInAudience");
}

TEST(Jwt, ClaimsNamespaceAndFormats) {
  // Custom namespace.
  auto cfg = hs_config(R"(,"claims_namespace":"hasura")");
  EXPECT_TRUE(verify_jwt(sign_hs("HS256", json::object{{"hasura", hasura()}}), cfg, now()).ok());
  auto missing = verify_jwt(sign_hs("HS256", claims()), cfg, now());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kJwtInvalidClaims);
  EXPECT_EQ(missing.error().message, "claims key: 'hasura' not found");

  // Namespace path.
  auto path_cfg = hs_config(R"(,"claims_namespace_path":"$.app['x.y']")");
  auto ok = verify_jwt(sign_hs("HS256", json::object{{"app", json::object{{"x.y", hasura()}}}}),
                       path_cfg, now());
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->hasura_claims.at("x-hasura-default-role").as_string(), "user");
  auto path_missing = verify_jwt(sign_hs("HS256", claims()), path_cfg, now());
  ASSERT_FALSE(path_missing.ok());
  EXPECT_EQ(path_missing.error().message,
            "claims not found at claims_namespace_path: '$.app['x.y']'");

  // Stringified claims.
  auto str_cfg = hs_config(R"(,"claims_format":"stringified_json")");
  auto s = verify_jwt(
      sign_hs("HS256", json::object{{"https://hasura.io/jwt/claims", json::serialize(hasura())}}),
      str_cfg, now());
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->hasura_claims.at("x-hasura-user-id").as_string(), "1");
  auto not_string = verify_jwt(sign_hs("HS256", claims()), str_cfg, now());
  ASSERT_FALSE(not_string.ok());
  EXPECT_EQ(not_string.error().message,
            "expecting a string when claims_format is stringified_json");
  // json format with a string.
  auto wrong = verify_jwt(
      sign_hs("HS256", json::object{{"https://hasura.io/jwt/claims", json::serialize(hasura())}}),
      hs_config(), now());
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().message, "expecting a json object when claims_format is json");
}

TEST(Jwt, OnlyHasuraClaimsKeptAndLowerCased) {
  auto r = verify_jwt(
      sign_hs("HS256", json::object{{"https://hasura.io/jwt/claims",
                                     json::object{{"X-Hasura-User-Id", "7"}, {"other", "x"}}}}),
      hs_config(), now());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->hasura_claims.size(), 1u);
  EXPECT_EQ(r->hasura_claims.at("x-hasura-user-id").as_string(), "7");
}

}  // namespace
}  // namespace liveql::server

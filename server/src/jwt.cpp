#include "jwt.hpp"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <cctype>
#include <cmath>
#include <variant>

#include "liveql/base/text.hpp"

namespace liveql::server {

struct JwtKey {
  std::string hmac_secret;               // HS*
  std::shared_ptr<EVP_PKEY> public_key;  // RS*
};

namespace {

namespace json = boost::json;

Error invalid_jwt(std::string_view what) {
  return make_error(ErrorCode::kInvalidJwt, "Could not verify JWT: " + std::string(what));
}
Error claims_error(std::string message) {
  return make_error(ErrorCode::kJwtInvalidClaims, std::move(message));
}
Error config_error(std::string message) {
  return make_error(ErrorCode::kBadRequest, std::move(message));
}

bool is_hmac(JwtAlgorithm a) {
  return a == JwtAlgorithm::kHs256 || a == JwtAlgorithm::kHs384 || a == JwtAlgorithm::kHs512;
}

std::optional<JwtAlgorithm> algorithm_from_name(std::string_view name) {
  if (name == "HS256") return JwtAlgorithm::kHs256;
  if (name == "HS384") return JwtAlgorithm::kHs384;
  if (name == "HS512") return JwtAlgorithm::kHs512;
  if (name == "RS256") return JwtAlgorithm::kRs256;
  if (name == "RS384") return JwtAlgorithm::kRs384;
  if (name == "RS512") return JwtAlgorithm::kRs512;
  return std::nullopt;
}

std::string_view algorithm_name(JwtAlgorithm a) {
  switch (a) {
    case JwtAlgorithm::kHs256:
      return "HS256";
    case JwtAlgorithm::kHs384:
      return "HS384";
    case JwtAlgorithm::kHs512:
      return "HS512";
    case JwtAlgorithm::kRs256:
      return "RS256";
    case JwtAlgorithm::kRs384:
      return "RS384";
    case JwtAlgorithm::kRs512:
      return "RS512";
  }
  return "?";
}

const EVP_MD* digest_of(JwtAlgorithm a) {
  switch (a) {
    case JwtAlgorithm::kHs256:
    case JwtAlgorithm::kRs256:
      return EVP_sha256();
    case JwtAlgorithm::kHs384:
    case JwtAlgorithm::kRs384:
      return EVP_sha384();
    case JwtAlgorithm::kHs512:
    case JwtAlgorithm::kRs512:
      return EVP_sha512();
  }
  return EVP_sha256();
}

// A PEM public key (SubjectPublicKeyInfo or PKCS#1) or an X.509 certificate.
std::shared_ptr<EVP_PKEY> parse_rsa_pem(const std::string& pem) {
  auto free_pkey = [](EVP_PKEY* p) { EVP_PKEY_free(p); };
  {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), int(pem.size())),
                                                  BIO_free);
    if (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      EVP_PKEY* key = X509_get_pubkey(cert);
      X509_free(cert);
      if (key) return std::shared_ptr<EVP_PKEY>(key, free_pkey);
    }
  }
  EVP_PKEY* key = nullptr;
  OSSL_DECODER_CTX* dctx = OSSL_DECODER_CTX_new_for_pkey(&key, "PEM", nullptr, "RSA",
                                                         EVP_PKEY_PUBLIC_KEY, nullptr, nullptr);
  if (!dctx) return nullptr;
  const auto* data = reinterpret_cast<const unsigned char*>(pem.data());
  size_t len = pem.size();
  int ok = OSSL_DECODER_from_data(dctx, &data, &len);
  OSSL_DECODER_CTX_free(dctx);
  if (!ok || !key) return nullptr;
  return std::shared_ptr<EVP_PKEY>(key, free_pkey);
}

// Claims paths in Hasura's JSONPath subset: $.a.b, $['a.b'].c, $["x"][0].
std::optional<std::vector<std::variant<std::string, size_t>>> parse_json_path(std::string_view p) {
  std::vector<std::variant<std::string, size_t>> out;
  if (p.empty() || p[0] != '$') return std::nullopt;
  size_t i = 1;
  while (i < p.size()) {
    if (p[i] == '.') {
      size_t j = ++i;
      while (j < p.size() && p[j] != '.' && p[j] != '[') ++j;
      if (j == i) return std::nullopt;
      out.emplace_back(std::string(p.substr(i, j - i)));
      i = j;
    } else if (p[i] == '[') {
      ++i;
      if (i < p.size() && (p[i] == '\'' || p[i] == '"')) {
        char q = p[i++];
        size_t j = p.find(q, i);
        if (j == std::string_view::npos || j + 1 >= p.size() || p[j + 1] != ']')
          return std::nullopt;
        out.emplace_back(std::string(p.substr(i, j - i)));
        i = j + 2;
      } else {
        size_t j = i, n = 0;
        while (j < p.size() && std::isdigit(static_cast<unsigned char>(p[j])))
          n = n * 10 + (p[j++] - '0');
        if (j == i || j >= p.size() || p[j] != ']') return std::nullopt;
        out.emplace_back(n);
        i = j + 1;
      }
    } else {
      return std::nullopt;
    }
  }
  return out;
}

const json::value* follow_path(const json::value& root, std::string_view path) {
  auto steps = parse_json_path(path);
  if (!steps) return nullptr;
  const json::value* cur = &root;
  for (const auto& s : *steps) {
    if (const auto* key = std::get_if<std::string>(&s)) {
      const auto* obj = cur->if_object();
      if (!obj) return nullptr;
      auto it = obj->find(*key);
      if (it == obj->end()) return nullptr;
      cur = &it->value();
    } else {
      const auto* arr = cur->if_array();
      size_t idx = std::get<size_t>(s);
      if (!arr || idx >= arr->size()) return nullptr;
      cur = &(*arr)[idx];
    }
  }
  return cur;
}

// system_clock counts int64 nanoseconds: it ends in the year 2262. Converting a later date (or a
// longer skew) from double would be undefined, so such values are clamped.
constexpr double kMaxClockSeconds = 9.2e9;

std::optional<double> numeric_date(const json::value& v) {
  if (v.is_int64()) return double(v.get_int64());
  if (v.is_uint64()) return double(v.get_uint64());
  // Boost.JSON reads 0e9999 as NaN: not a date (and undefined to convert).
  if (v.is_double() && !std::isnan(v.get_double())) return v.get_double();
  return std::nullopt;
}

}  // namespace

std::optional<std::string> base64url_decode(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
  };
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = val(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(char((acc >> bits) & 0xFF));
    }
  }
  // Leftover bits must be zero, or two encodings would decode to the same bytes.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::string base64url_encode(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 0x3F]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 0x3F]);
  return out;
}

Result<JwtConfig> parse_jwt_config(std::string_view json_text) {
  boost::system::error_code ec;
  json::value v = json::parse(json_text, ec);
  if (ec || !v.is_object()) return config_error("invalid JWT config: expected a JSON object");
  const auto& o = v.get_object();
  auto str = [&](std::string_view k) -> std::optional<std::string> {
    auto* p = o.if_contains(k);
    if (!p || !p->is_string()) return std::nullopt;
    return std::string(p->get_string());
  };
  JwtConfig c;
  if (o.contains("jwk_url")) return config_error("jwk_url is not supported by liveql");
  auto type = str("type");
  auto key = str("key");
  if (!key) return config_error("key and jwk_url both cannot be empty");
  if (!type) return config_error("key \"type\" not found");
  auto alg = algorithm_from_name(*type);
  if (!alg) return config_error("Invalid JWK: Key type: " + *type + " is not supported");
  c.type = *alg;
  auto k = std::make_shared<JwtKey>();
  if (is_hmac(c.type)) {
    size_t min = c.type == JwtAlgorithm::kHs256 ? 32 : c.type == JwtAlgorithm::kHs384 ? 48 : 64;
    if (key->size() < min)
      return config_error("Invalid JWK: Key size too small; should be at least " +
                          std::to_string(min) + " characters");
    k->hmac_secret = *key;
  } else {
    k->public_key = parse_rsa_pem(*key);
    if (!k->public_key || EVP_PKEY_get_base_id(k->public_key.get()) != EVP_PKEY_RSA)
      return config_error(
          "Invalid JWK: Could not decode PEM: expected an RSA public key or an "
          "X509 certificate");
  }
  c.key = std::move(k);
  if (o.contains("claims_namespace") && o.contains("claims_namespace_path"))
    return config_error("claims_namespace and claims_namespace_path both cannot be set");
  if (auto ns = str("claims_namespace")) c.claims_namespace = *ns;
  if (auto p = str("claims_namespace_path")) {
    if (!parse_json_path(*p))
      return config_error("invalid JSON path claims_namespace_path error: " + *p);
    c.claims_namespace_path = *p;
  }
  if (auto f = str("claims_format")) {
    if (*f == "stringified_json")
      c.claims_stringified = true;
    else if (*f != "json")
      return config_error("invalid claims_format: " + *f);
  }
  if (auto* aud = o.if_contains("audience")) {
    if (aud->is_string()) {
      c.audience.emplace_back(aud->get_string());
    } else if (aud->is_array()) {
      for (const auto& a : aud->get_array())
        if (a.is_string()) c.audience.emplace_back(a.get_string());
    }
  }
  c.issuer = str("issuer");
  if (auto* skew = o.if_contains("allowed_skew")) {
    auto s = numeric_date(*skew);
    if (!s || *s < 0) return config_error("allowed_skew must be a non-negative number of seconds");
    c.allowed_skew = std::chrono::seconds(int64_t(std::min(*s, kMaxClockSeconds)));
  }
  if (o.contains("claims_map")) return config_error("claims_map is not supported by liveql");
  return c;
}

Result<VerifiedJwt> verify_jwt(std::string_view token, const JwtConfig& config,
                               std::chrono::system_clock::time_point now) {
  size_t dot1 = token.find('.');
  size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  size_t parts = size_t(std::count(token.begin(), token.end(), '.')) + 1;
  if (parts != 3)
    return invalid_jwt(
        "JWSError (CompactDecodeError Invalid number of parts: Expected 3 parts; got " +
        std::to_string(parts) + ")");
  std::string_view header_b64 = token.substr(0, dot1);
  std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  std::string_view sig_b64 = token.substr(dot2 + 1);
  auto header_text = base64url_decode(header_b64);
  auto payload_text = base64url_decode(payload_b64);
  auto signature = base64url_decode(sig_b64);
  if (!header_text || !payload_text || !signature)
    return invalid_jwt("JWSError (CompactDecodeError Base64Error)");

  boost::system::error_code ec;
  json::value header = json::parse(*header_text, ec);
  if (ec || !header.is_object())
    return invalid_jwt("JWSError (JSONDecodeError \"Error in $: malformed JOSE header\")");
  auto* alg_v = header.get_object().if_contains("alg");
  if (!alg_v || !alg_v->is_string())
    return invalid_jwt("JWSError (JSONDecodeError \"Error in $: key \\\"alg\\\" not found\")");
  std::string_view alg_name = alg_v->get_string();
  auto alg = algorithm_from_name(alg_name);
  if (!config.key) return invalid_jwt("JWSError JWSInvalidSignature");
  // Only the configured algorithm: a token never chooses how it is checked. Otherwise an RS256
  // server would take an HS256 token whose "secret" is its own public key, and an HS256 server
  // tokens signed with another digest than the operator chose.
  if (!alg || *alg != config.type) {
    return invalid_jwt("JWSError (AlgorithmMismatch \"the token is signed with " +
                       std::string(alg_name.substr(0, 16)) + ", expected " +
                       std::string(algorithm_name(config.type)) + "\")");
  }

  std::string_view signing_input = token.substr(0, dot2);
  bool valid = false;
  if (is_hmac(*alg)) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    const auto& secret = config.key->hmac_secret;
    if (HMAC(digest_of(*alg), secret.data(), int(secret.size()),
             reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(),
             mac, &mac_len) &&
        mac_len == signature->size()) {
      valid = CRYPTO_memcmp(mac, signature->data(), mac_len) == 0;
    }
  } else {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    if (ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, digest_of(*alg), nullptr,
                                    config.key->public_key.get()) == 1) {
      valid = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature->data()),
                               signature->size(),
                               reinterpret_cast<const unsigned char*>(signing_input.data()),
                               signing_input.size()) == 1;
    }
  }
  if (!valid) return invalid_jwt("JWSError JWSInvalidSignature");

  json::value claims = json::parse(*payload_text, ec);
  if (ec || !claims.is_object())
    return invalid_jwt("JWTClaimsSetDecodeError \"Error in $: expected a JSON object\"");
  const auto& co = claims.get_object();

  VerifiedJwt out;
  double now_s = std::chrono::duration<double>(now.time_since_epoch()).count();
  double skew = double(config.allowed_skew.count());
  if (auto* exp = co.if_contains("exp")) {
    auto t = numeric_date(*exp);
    if (!t) return invalid_jwt("JWTClaimsSetDecodeError \"Error in $['exp']: expected a number\"");
    if (now_s > *t + skew) return invalid_jwt("JWTExpired");
    out.expires_at = *t + skew >= kMaxClockSeconds
                         ? std::chrono::system_clock::time_point::max()
                         : std::chrono::system_clock::time_point(
                               std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                   std::chrono::duration<double>(*t + skew)));
  }
  if (auto* nbf = co.if_contains("nbf")) {
    auto t = numeric_date(*nbf);
    if (!t) return invalid_jwt("JWTClaimsSetDecodeError \"Error in $['nbf']: expected a number\"");
    if (*t > now_s + skew) return invalid_jwt("JWTNotYetValid");
  }
  if (config.issuer) {
    if (auto* iss = co.if_contains("iss")) {
      if (!iss->is_string() || iss->get_string() != *config.issuer)
        return invalid_jwt("JWTNotInIssuer");
    }
  }
  if (!config.audience.empty()) {
    if (auto* aud = co.if_contains("aud")) {
      bool match = false;
      auto check = [&](const json::value& a) {
        if (a.is_string() && std::find(config.audience.begin(), config.audience.end(),
                                       std::string_view(a.get_string())) != config.audience.end())
          match = true;
      };
      if (aud->is_array()) {
        for (const auto& a : aud->get_array()) check(a);
      } else {
        check(*aud);
      }
      if (!match) return invalid_jwt("JWTNotInAudience");
    }
  }

  // The Hasura claims object.
  const json::value* ns = nullptr;
  std::string where;
  if (config.claims_namespace_path) {
    ns = follow_path(claims, *config.claims_namespace_path);
    where = "claims_namespace_path " + *config.claims_namespace_path;
    if (!ns)
      return claims_error("claims not found at claims_namespace_path: '" +
                          *config.claims_namespace_path + "'");
  } else {
    ns = co.if_contains(config.claims_namespace);
    where = "claims_namespace " + config.claims_namespace;
    if (!ns) return claims_error("claims key: '" + config.claims_namespace + "' not found");
  }
  json::value parsed;
  if (config.claims_stringified) {
    if (!ns->is_string())
      return claims_error("expecting a string when claims_format is stringified_json");
    parsed = json::parse(std::string_view(ns->get_string()), ec);
    if (ec || !parsed.is_object())
      return claims_error("expecting stringified json at: '" + where +
                          "', but found: " + std::string(ns->get_string()));
    ns = &parsed;
  } else if (!ns->is_object()) {
    return claims_error("expecting a json object when claims_format is json");
  }
  for (const auto& kv : ns->get_object()) {
    std::string key = ascii_lower(kv.key());
    if (key.rfind("x-hasura-", 0) == 0) out.hasura_claims[key] = kv.value();
  }
  return out;
}

}  // namespace liveql::server

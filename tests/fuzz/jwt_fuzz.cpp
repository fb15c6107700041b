// JWT verification and the session it yields (jwt.cpp, auth.cpp). The first byte picks what the
// rest is, and which --jwt-secret configuration verifies it:
//   byte % 6 == 0 / 1: a compact token, verified with an HS256 / RS256 configuration;
//                 2 / 3: header JSON, NUL, claims JSON: the harness signs them (HS256 / RS256)
//                        so the fuzzer reaches the claim checks behind the signature;
//                 4:     a --jwt-secret JSON document (parse_jwt_config, make_auth_config);
//                 5:     text for the strict base64url codec.
//   (byte / 6) % 4: the configuration variant: default claims namespace; a claims path with
//   audience and issuer; stringified claims with an allowed skew; a custom namespace.
// In the token modes a line after the token (or after the claims) is sent as x-hasura-role.
//
// Checked: no crash, leak or UB; base64url decodes only canonical text and round-trips; a
// session from a token has a role and only x-hasura-* variables.
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "auth.hpp"
#include "fuzz_check.hpp"
#include "jwt.hpp"

namespace liveql::fuzz {
namespace {

using namespace liveql::server;

constexpr std::string_view kHsSecret = "fuzz-secret-0123456789abcdef-0123456789";
const auto kNow = std::chrono::system_clock::time_point(std::chrono::seconds(1'900'000'000));

std::string json_quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
  }
  return out + "\"";
}

struct Keys {
  std::shared_ptr<EVP_PKEY> rsa;
  std::string rsa_public_pem;
};

const Keys& keys() {
  static const Keys k = [] {
    Keys out;
    out.rsa.reset(EVP_RSA_gen(2048), EVP_PKEY_free);
    if (!out.rsa) invariant_failed("EVP_RSA_gen", "");
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    PEM_write_bio_PUBKEY(bio.get(), out.rsa.get());
    char* pem = nullptr;
    long len = BIO_get_mem_data(bio.get(), &pem);
    out.rsa_public_pem.assign(pem, size_t(len));
    return out;
  }();
  return k;
}

std::string config_json(bool rsa, int variant) {
  std::string c = std::string(R"({"type":")") + (rsa ? "RS256" : "HS256") + R"(","key":)" +
                  json_quote(rsa ? keys().rsa_public_pem : kHsSecret);
  switch (variant) {
    case 1:
      c += R"(,"claims_namespace_path":"$.hasura['claims']","audience":["liveql","other"],)"
           R"("issuer":"https://issuer.example")";
      break;
    case 2:
      c += R"(,"claims_format":"stringified_json","allowed_skew":30)";
      break;
    case 3:
      c += R"(,"claims_namespace":"custom")";
      break;
    default:
      break;
  }
  return c + "}";
}

const AuthConfig& auth_config(bool rsa, int variant) {
  static const auto configs = [] {
    std::vector<AuthConfig> out;
    for (int r = 0; r < 2; ++r) {
      for (int v = 0; v < 4; ++v) {
        auto c = make_auth_config("fuzz-admin-secret", config_json(r == 1, v),
                                  v == 3 ? std::optional<std::string>("anonymous") : std::nullopt);
        if (!c) invariant_failed("fuzz fixture JWT config", c.error().message);
        out.push_back(std::move(*c));
      }
    }
    return out;
  }();
  return configs[size_t((rsa ? 4 : 0) + variant)];
}

std::string sign(bool rsa, const std::string& input) {
  unsigned char buf[1024];
  if (!rsa) {
    unsigned int len = 0;
    HMAC(EVP_sha256(), kHsSecret.data(), int(kHsSecret.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), buf, &len);
    return std::string(reinterpret_cast<const char*>(buf), len);
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  size_t len = sizeof buf;
  if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, keys().rsa.get()) != 1 ||
      EVP_DigestSign(ctx.get(), buf, &len, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1)
    invariant_failed("RS256 signing", input);
  return std::string(reinterpret_cast<const char*>(buf), len);
}

void authenticate_token(const std::string& token, std::string_view role, const AuthConfig& config) {
  std::map<std::string, std::string> headers{{"authorization", "Bearer " + token}};
  if (!role.empty()) headers["x-hasura-role"] = std::string(role);
  auto r = authenticate(headers, config, kNow);
  if (!r) {
    LIVEQL_FUZZ_CHECK(!r.error().message.empty(), token);
    return;
  }
  LIVEQL_FUZZ_CHECK(!r->session.role.empty(), token);
  LIVEQL_FUZZ_CHECK(!r->session.is_admin, token);
  for (const auto& [name, value] : r->session.variables)
    LIVEQL_FUZZ_CHECK(name.starts_with("x-hasura-"), name);
}

void base64url(std::string_view text) {
  if (auto decoded = base64url_decode(text)) {
    LIVEQL_FUZZ_CHECK(base64url_encode(*decoded) == text, text);
  }
  auto back = base64url_decode(base64url_encode(text));
  LIVEQL_FUZZ_CHECK(back && *back == text, text);
}

}  // namespace
}  // namespace liveql::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace liveql::fuzz;
  if (size == 0) return 0;
  const int mode = data[0] % 6;
  const int variant = (data[0] / 6) % 4;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (mode) {
    case 0:
    case 1: {
      std::string token(split_first(rest, '\n'));
      authenticate_token(token, rest, auth_config(mode == 1, variant));
      break;
    }
    case 2:
    case 3: {
      std::string_view header = split_first(rest, '\0');
      std::string_view claims = split_first(rest, '\n');
      std::string input = base64url_encode(header) + "." + base64url_encode(claims);
      std::string token = input + "." + base64url_encode(sign(mode == 3, input));
      authenticate_token(token, rest, auth_config(mode == 3, variant));
      break;
    }
    case 4: {
      auto config = parse_jwt_config(rest);
      if (!config) LIVEQL_FUZZ_CHECK(!config.error().message.empty(), rest);
      (void)make_auth_config("fuzz-admin-secret", std::string(rest), std::nullopt);
      break;
    }
    default:
      base64url(rest);
      break;
  }
  return 0;
}

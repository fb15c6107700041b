// Test helpers: sign JWTs with OpenSSL (HMAC secrets, and an RSA key pair plus a self-signed
// certificate generated once per test process).
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <boost/json.hpp>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

#include "jwt.hpp"

namespace liveql::server::test {

inline constexpr const char* kHsSecret = "0123456789abcdef0123456789abcdef-secret";

inline std::chrono::system_clock::time_point now() {
  // A fixed instant: tests never depend on the wall clock.
  return std::chrono::system_clock::time_point(std::chrono::seconds(1'900'000'000));
}
inline int64_t epoch(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

struct RsaKey {
  std::shared_ptr<EVP_PKEY> pkey;
  std::string public_pem;
  std::string cert_pem;
};

inline std::string bio_string(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, size_t(len));
}

inline const RsaKey& rsa_key() {
  static const RsaKey key = [] {
    RsaKey k;
    k.pkey.reset(EVP_RSA_gen(2048), EVP_PKEY_free);
    if (!k.pkey) throw std::runtime_error("EVP_RSA_gen failed");
    std::unique_ptr<BIO, decltype(&BIO_free)> pub(BIO_new(BIO_s_mem()), BIO_free);
    PEM_write_bio_PUBKEY(pub.get(), k.pkey.get());
    k.public_pem = bio_string(pub.get());
    std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
    X509_set_pubkey(cert.get(), k.pkey.get());
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("liveql-test"), -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    X509_sign(cert.get(), k.pkey.get(), EVP_sha256());
    std::unique_ptr<BIO, decltype(&BIO_free)> cb(BIO_new(BIO_s_mem()), BIO_free);
    PEM_write_bio_X509(cb.get(), cert.get());
    k.cert_pem = bio_string(cb.get());
    return k;
  }();
  return key;
}

inline const EVP_MD* md_for(const std::string& alg) {
  if (alg.ends_with("384")) return EVP_sha384();
  if (alg.ends_with("512")) return EVP_sha512();
  return EVP_sha256();
}

inline std::string signing_input(const std::string& alg, const std::string& payload) {
  return base64url_encode(R"({"alg":")" + alg + R"(","typ":"JWT"})") + "." +
         base64url_encode(payload);
}

inline std::string sign_raw(const std::string& alg, const std::string& payload,
                            const std::string& secret) {
  auto input = signing_input(alg, payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(md_for(alg), secret.data(), int(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return input + "." + base64url_encode(std::string(reinterpret_cast<char*>(mac), len));
}

inline std::string sign_with_secret(const std::string& alg, const boost::json::object& claims,
                                    const std::string& secret) {
  return sign_raw(alg, boost::json::serialize(claims), secret);
}

inline std::string sign_hs(const std::string& alg, const boost::json::object& claims) {
  return sign_with_secret(alg, claims, kHsSecret);
}

inline std::string sign_rs(const std::string& alg, const boost::json::object& claims) {
  auto input = signing_input(alg, boost::json::serialize(claims));
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestSignInit(ctx.get(), nullptr, md_for(alg), nullptr, rsa_key().pkey.get());
  size_t len = 0;
  EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  sig.resize(len);
  return input + "." + base64url_encode(sig);
}

}  // namespace liveql::server::test

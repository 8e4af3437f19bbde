#include "bench/minting.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "service/jose/base64url.h"
#include "service/authn/client_cert.h"
#include "service/common/crypto_util.h"
#include "service/common/json.h"
#include "service/common/openssl_util.h"

namespace popguard::bench {
namespace {


JsonValue Str(std::string_view s) { return JsonValue::String(std::string(s)); }
JsonValue Num(int64_t n) { return JsonValue::Number(static_cast<double>(n)); }

}  // namespace

absl::StatusOr<std::string> MintToken(const PrivateKey& key, JwsAlg alg, const TokenClaims& c) {
  std::vector<JsonValue::Member> header = {{"typ", Str("at+jwt")},
                                           {"alg", Str(JwsAlgName(alg))}};
  if (!key.kid().empty()) header.push_back({"kid", Str(key.kid())});
  const int64_t iat = absl::ToUnixSeconds(c.iat);
  std::vector<JsonValue::Member> claims = {
      {"iss", Str(c.iss)},
      {"aud", Str(c.aud)},
      {"iat", Num(iat)},
      {"exp", Num(iat + absl::ToInt64Seconds(c.ttl))},
      {"jti", Str(c.jti.empty() ? Base64UrlEncode(RandomBytes(12)) : c.jti)},
  };
  if (!c.sub.empty()) claims.push_back({"sub", Str(c.sub)});
  if (!c.client_id.empty()) claims.push_back({"client_id", Str(c.client_id)});
  if (!c.scope.empty()) claims.push_back({"scope", Str(c.scope)});
  std::vector<JsonValue::Member> cnf;
  if (!c.jkt.empty()) cnf.push_back({"jkt", Str(c.jkt)});
  if (!c.x5t.empty()) cnf.push_back({"x5t#S256", Str(c.x5t)});
  if (!cnf.empty()) claims.push_back({"cnf", JsonValue::Object(std::move(cnf))});
  return SignCompactJws(key, alg, JsonValue::Object(std::move(header)),
                        JsonValue::Object(std::move(claims)));
}

ProofMinter::ProofMinter(const PrivateKey& key, JwsAlg alg) : key_(&key), alg_(alg) {
  header_json_ = SerializeJson(JsonValue::Object({{"typ", Str("dpop+jwt")},
                                                  {"alg", Str(JwsAlgName(alg))},
                                                  {"jwk", key.RequiredPublicJwk()}}));
}

absl::StatusOr<std::string> ProofMinter::Mint(std::string_view method, std::string_view url,
                                              std::string_view access_token, absl::Time iat,
                                              std::string_view jti) const {
  std::string payload = SerializeJson(JsonValue::Object({
      {"jti", Str(jti)},
      {"htm", Str(method)},
      {"htu", Str(url)},
      {"iat", Num(absl::ToUnixSeconds(iat))},
      {"ath", Str(Base64UrlEncode(Sha256(access_token)))},
  }));
  return SignCompactJwsRaw(*key_, alg_, header_json_, payload);
}

absl::StatusOr<SelfSignedCert> MakeSelfSignedCert(std::string_view common_name) {
  PkeyPtr pkey(EVP_EC_gen("P-256"));
  X509Ptr x509(X509_new());
  if (pkey == nullptr || x509 == nullptr) return absl::InternalError("certificate: out of memory");
  std::string serial = RandomBytes(7);
  long serial_value = 0;
  for (char ch : serial) serial_value = serial_value << 8 | static_cast<unsigned char>(ch);
  std::string cn(common_name);
  X509_NAME* name = X509_get_subject_name(x509.get());
  if (X509_set_version(x509.get(), 2) != 1 ||
      ASN1_INTEGER_set(X509_get_serialNumber(x509.get()), serial_value) != 1 ||
      X509_gmtime_adj(X509_getm_notBefore(x509.get()), -3600) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(x509.get()), 7 * 24 * 3600) == nullptr ||
      X509_set_pubkey(x509.get(), pkey.get()) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                 0) != 1 ||
      X509_set_issuer_name(x509.get(), name) != 1 ||
      X509_sign(x509.get(), pkey.get(), EVP_sha256()) <= 0) {
    return absl::InternalError("certificate: cannot build");
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), x509.get()) != 1) {
    return absl::InternalError("certificate: cannot write PEM");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  SelfSignedCert cert;
  cert.pem.assign(data, static_cast<size_t>(len));
  absl::StatusOr<std::string> der = CertificateDer(cert.pem);
  if (!der.ok()) return der.status();
  cert.der = *std::move(der);
  cert.thumbprint = CertificateThumbprint(cert.der);
  return cert;
}

std::string EnvoyUrlEncode(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size() * 3 / 2);
  for (unsigned char ch : in) {
    if (absl::ascii_isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out.push_back(static_cast<char>(ch));
    } else {
      out.push_back('%');
      out.push_back(kHex[ch >> 4]);
      out.push_back(kHex[ch & 15]);
    }
  }
  return out;
}

std::string JwksJson(const std::vector<const PrivateKey*>& keys) {
  std::vector<JsonValue> items;
  for (const PrivateKey* k : keys) items.push_back(k->PublicJwk());
  return SerializeJson(JsonValue::Object({{"keys", JsonValue::Array(std::move(items))}}));
}

JwsAlg DefaultAlgFor(const PrivateKey& key) {
  if (key.alg()) return *key.alg();
  switch (key.kty()) {
    case KeyType::kOkp:
      return JwsAlg::kEdDSA;
    case KeyType::kRsa:
      return JwsAlg::kRS256;
    case KeyType::kEc:
      if (key.crv() == "P-384") return JwsAlg::kES384;
      if (key.crv() == "P-521") return JwsAlg::kES512;
      return JwsAlg::kES256;
  }
  return JwsAlg::kES256;
}

std::string UniqueJtiPrefix() { return Base64UrlEncode(RandomBytes(9)); }

}  // namespace popguard::bench

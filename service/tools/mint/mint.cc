#include "service/tools/mint/mint.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "service/common/crypto_util.h"
#include "service/common/openssl_util.h"
#include "service/common/strings.h"
#include "service/jose/base64url.h"

namespace popguard {
namespace {

JsonValue Str(std::string_view s) { return JsonValue::String(std::string(s)); }
JsonValue Secs(absl::Time t) {
  return JsonValue::Number(static_cast<double>(absl::ToUnixSeconds(t)));
}

}  // namespace

JsonValue TokenClaims(const TokenSpec& spec) {
  const int64_t iat = absl::ToUnixSeconds(spec.iat);
  std::vector<JsonValue::Member> claims = {
      {"iss", Str(spec.iss)},
      {"aud", Str(spec.aud)},
      {"iat", JsonValue::Number(static_cast<double>(iat))},
      {"exp", JsonValue::Number(static_cast<double>(iat + absl::ToInt64Seconds(spec.ttl)))},
      {"jti", Str(spec.jti.empty() ? Base64UrlEncode(RandomBytes(12)) : spec.jti)},
  };
  if (!spec.sub.empty()) claims.push_back({"sub", Str(spec.sub)});
  if (!spec.client_id.empty()) claims.push_back({"client_id", Str(spec.client_id)});
  if (!spec.scope.empty()) claims.push_back({"scope", Str(spec.scope)});
  std::vector<JsonValue::Member> cnf;
  if (!spec.jkt.empty()) cnf.push_back({"jkt", Str(spec.jkt)});
  if (!spec.x5t.empty()) cnf.push_back({"x5t#S256", Str(spec.x5t)});
  if (!cnf.empty()) claims.push_back({"cnf", JsonValue::Object(std::move(cnf))});
  return JsonValue::Object(std::move(claims));
}

JsonValue TokenHeader(JwsAlg alg, std::string_view kid, std::string_view typ) {
  std::vector<JsonValue::Member> header = {{"alg", Str(JwsAlgName(alg))}};
  if (!typ.empty()) header.push_back({"typ", Str(typ)});
  if (!kid.empty()) header.push_back({"kid", Str(kid)});
  return JsonValue::Object(std::move(header));
}

absl::StatusOr<std::string> MintToken(const PrivateKey& key, JwsAlg alg, const TokenSpec& spec) {
  return SignCompactJws(key, alg, TokenHeader(alg, key.kid()), TokenClaims(spec));
}

JsonValue ProofClaims(const ProofSpec& spec) {
  std::vector<JsonValue::Member> claims = {
      {"jti", Str(spec.jti.empty() ? Base64UrlEncode(RandomBytes(16)) : spec.jti)},
      {"htm", Str(spec.method)},
      {"htu", Str(spec.url)},
      {"iat", Secs(spec.iat)},
  };
  if (spec.access_token.has_value()) claims.push_back({"ath", Str(Ath(*spec.access_token))});
  if (spec.nonce.has_value()) claims.push_back({"nonce", Str(*spec.nonce)});
  return JsonValue::Object(std::move(claims));
}

JsonValue ProofHeader(const PrivateKey& key, JwsAlg alg) {
  return JsonValue::Object(
      {{"typ", Str("dpop+jwt")}, {"alg", Str(JwsAlgName(alg))}, {"jwk", key.RequiredPublicJwk()}});
}

absl::StatusOr<std::string> MintProof(const PrivateKey& key, JwsAlg alg, const ProofSpec& spec) {
  return SignCompactJws(key, alg, ProofHeader(key, alg), ProofClaims(spec));
}

ProofMinter::ProofMinter(const PrivateKey& key, JwsAlg alg)
    : key_(&key), alg_(alg), header_json_(SerializeJson(ProofHeader(key, alg))) {}

absl::StatusOr<std::string> ProofMinter::Mint(std::string_view method, std::string_view url,
                                              std::string_view access_token, absl::Time iat,
                                              std::string_view jti) const {
  ProofSpec spec{.method = std::string(method),
                 .url = std::string(url),
                 .iat = iat,
                 .jti = std::string(jti),
                 .access_token = std::string(access_token)};
  return SignCompactJwsRaw(*key_, alg_, header_json_, SerializeJson(ProofClaims(spec)));
}

std::string Ath(std::string_view access_token) { return Base64UrlEncode(Sha256(access_token)); }

std::string JwksJson(const std::vector<const PrivateKey*>& keys) {
  std::vector<JsonValue> items;
  for (const PrivateKey* key : keys) items.push_back(key->PublicJwk());
  return SerializeJson(JsonValue::Object({{"keys", JsonValue::Array(std::move(items))}}));
}

absl::StatusOr<SelfSignedCert> MakeSelfSignedCert(std::string_view common_name) {
  PkeyPtr pkey(EVP_EC_gen("P-256"));
  X509Ptr x509(X509_new());
  if (pkey == nullptr || x509 == nullptr) return absl::InternalError("certificate: out of memory");
  // A positive 56-bit serial: random, so two certificates for one name differ.
  long serial_value = 0;
  for (char ch : RandomBytes(7)) serial_value = serial_value << 8 | static_cast<unsigned char>(ch);
  const std::string cn(common_name);
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
  const long len = BIO_get_mem_data(bio.get(), &data);
  SelfSignedCert cert;
  cert.pem.assign(data, static_cast<size_t>(len));
  unsigned char* der = nullptr;
  const int der_len = i2d_X509(x509.get(), &der);
  if (der_len <= 0) return absl::InternalError("certificate: cannot write DER");
  cert.der.assign(reinterpret_cast<const char*>(der), static_cast<size_t>(der_len));
  OPENSSL_free(der);
  // x5t#S256 from its definition (RFC 8705 section 3.1), not through the
  // verifier's CertificateThumbprint: tests compare the two.
  cert.thumbprint = Base64UrlEncode(Sha256(cert.der));
  return cert;
}

std::string EnvoyUrlEncode(std::string_view in) { return PercentEncode(in); }

std::string UniqueJtiPrefix() { return Base64UrlEncode(RandomBytes(9)); }

}  // namespace popguard

#include "tests/testing/unit_fixtures.h"

#include <atomic>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "service/common/crypto_util.h"
#include "service/jose/base64url.h"

namespace popguard::unit {

JsonValue Json(std::string_view text) {
  absl::StatusOr<JsonValue> v = ParseJson(text);
  if (!v.ok()) {
    ADD_FAILURE() << "test JSON does not parse: " << v.status();
    return JsonValue();
  }
  return *std::move(v);
}

JsonValue Str(std::string_view s) { return JsonValue::String(std::string(s)); }
JsonValue Num(double d) { return JsonValue::Number(d); }
JsonValue Secs(absl::Time t) {
  return JsonValue::Number(static_cast<double>(absl::ToUnixSeconds(t)));
}

JsonValue WithMember(const JsonValue& obj, std::string_view name, JsonValue value) {
  std::vector<JsonValue::Member> members;
  bool replaced = false;
  for (const auto& m : obj.object_members()) {
    if (m.first == name) {
      members.emplace_back(m.first, value);
      replaced = true;
    } else {
      members.push_back(m);
    }
  }
  if (!replaced) members.emplace_back(std::string(name), std::move(value));
  return JsonValue::Object(std::move(members));
}

JsonValue WithoutMember(const JsonValue& obj, std::string_view name) {
  std::vector<JsonValue::Member> members;
  for (const auto& m : obj.object_members()) {
    if (m.first != name) members.push_back(m);
  }
  return JsonValue::Object(std::move(members));
}

const PrivateKey& SharedKey(JwsAlg alg, int slot) {
  // Keys live for the whole process; std::map nodes never move, so the
  // returned references stay valid while other keys are added.
  static std::mutex* mu = new std::mutex();
  static auto* keys = new std::map<std::pair<JwsAlg, int>, std::unique_ptr<PrivateKey>>();
  std::lock_guard<std::mutex> lock(*mu);
  auto it = keys->find({alg, slot});
  if (it == keys->end()) {
    absl::StatusOr<PrivateKey> key = PrivateKey::Generate(alg);
    if (!key.ok()) {
      // Generation of a supported algorithm never fails; if it does, nothing
      // in the test can run meaningfully.
      ADD_FAILURE() << "PrivateKey::Generate(" << JwsAlgName(alg) << "): " << key.status();
      std::abort();
    }
    key->set_kid(absl::StrCat(std::string(JwsAlgName(alg)), "-", slot));
    it = keys->emplace(std::make_pair(alg, slot), std::make_unique<PrivateKey>(*std::move(key)))
             .first;
  }
  return *it->second;
}

std::vector<const PrivateKey*> IssuerKeys() {
  return {&SharedKey(JwsAlg::kES256, 0), &SharedKey(JwsAlg::kES256, 1),
          &SharedKey(JwsAlg::kES384, 0), &SharedKey(JwsAlg::kES512, 0),
          &SharedKey(JwsAlg::kEdDSA, 0), &SharedKey(JwsAlg::kRS256, 0),
          &SharedKey(JwsAlg::kPS256, 0)};
}

Config BaseConfig() {
  Config config;
  IssuerConfig issuer;
  issuer.issuer = kIssuer;
  issuer.audiences = {kAudience};
  issuer.jwks_inline = JwksJson(IssuerKeys());
  config.issuers.push_back(std::move(issuer));
  config.clock_skew = absl::Seconds(60);
  return config;
}

std::string Sign(const PrivateKey& key, JwsAlg alg, const JsonValue& header,
                 const JsonValue& payload) {
  absl::StatusOr<std::string> jws = SignCompactJws(key, alg, header, payload);
  if (!jws.ok()) {
    ADD_FAILURE() << "SignCompactJws: " << jws.status();
    return "";
  }
  return *std::move(jws);
}

JsonValue TokenHeader(const PrivateKey& key, JwsAlg alg) {
  return ::popguard::TokenHeader(alg, key.kid());
}

JsonValue TokenClaims(absl::Time now) {
  return ::popguard::TokenClaims({.iss = kIssuer,
                                  .aud = kAudience,
                                  .sub = "alice",
                                  .client_id = "client-1",
                                  .scope = "read write",
                                  .iat = now,
                                  .ttl = absl::Minutes(5),
                                  .jti = "token-1"});
}

std::string MintToken(const PrivateKey& key, JwsAlg alg, const JsonValue& claims) {
  return Sign(key, alg, TokenHeader(key, alg), claims);
}

JsonValue ProofClaims(const ProofOptions& o) {
  return ::popguard::ProofClaims({.method = o.htm,
                                  .url = o.htu,
                                  .iat = o.iat,
                                  .jti = o.jti,
                                  .access_token = o.access_token,
                                  .nonce = o.nonce});
}

std::string MintProof(const PrivateKey& key, const ProofOptions& o) {
  return Sign(key, o.alg, ProofHeader(key, o.alg), ProofClaims(o));
}

std::string UniqueId(std::string_view prefix) {
  static std::atomic<int> counter{0};
  return absl::StrCat(std::string(prefix), "-", counter.fetch_add(1));
}

std::string SignatureBytes(std::string_view compact) {
  size_t dot = compact.rfind('.');
  std::string sig;
  if (dot == std::string_view::npos || !Base64UrlDecode(compact.substr(dot + 1), &sig)) return "";
  return sig;
}

std::string WithSignature(std::string_view compact, std::string_view sig) {
  size_t dot = compact.rfind('.');
  return absl::StrCat(std::string(compact.substr(0, dot + 1)), Base64UrlEncode(sig));
}

std::string FlipSignatureBit(std::string_view compact, size_t bit) {
  std::string sig = SignatureBytes(compact);
  sig[bit / 8] = static_cast<char>(sig[bit / 8] ^ (0x80 >> (bit % 8)));
  return WithSignature(compact, sig);
}

std::string TruncateSignature(std::string_view compact) {
  std::string sig = SignatureBytes(compact);
  sig.pop_back();
  return WithSignature(compact, sig);
}

std::vector<size_t> SignatureBitsToFlip(JwsAlg alg, size_t sig_bytes) {
  const size_t bits = sig_bytes * 8;
  std::vector<size_t> out;
  switch (alg) {
    case JwsAlg::kES256:
    case JwsAlg::kES384:
    case JwsAlg::kES512:
    case JwsAlg::kEdDSA:
    case JwsAlg::kEd25519:
      for (size_t i = 0; i < bits; ++i) out.push_back(i);
      return out;
    default:
      for (size_t i = 0; i < 64; ++i) out.push_back(i * (bits - 1) / 63);
      return out;
  }
}

std::string Compact(std::string_view header_json, std::string_view payload, std::string_view sig) {
  return absl::StrCat(Base64UrlEncode(header_json), ".", Base64UrlEncode(payload), ".",
                      Base64UrlEncode(sig));
}

}  // namespace popguard::unit

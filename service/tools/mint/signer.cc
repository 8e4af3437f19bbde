#include "service/tools/mint/signer.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <iterator>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "service/common/openssl_util.h"
#include "service/jose/base64url.h"

namespace popguard {
namespace {

struct Curve {
  std::string_view jwk_name;
  const char* openssl_name;
  size_t bytes;  // field and scalar length
  JwsAlg alg;
};
constexpr Curve kCurves[] = {
    {"P-256", "prime256v1", 32, JwsAlg::kES256},
    {"P-384", "secp384r1", 48, JwsAlg::kES384},
    {"P-521", "secp521r1", 66, JwsAlg::kES512},
};

const Curve* CurveByJwkName(std::string_view name) {
  for (const Curve& c : kCurves) {
    if (c.jwk_name == name) return &c;
  }
  return nullptr;
}
const Curve* CurveByOpenSslName(std::string_view name) {
  for (const Curve& c : kCurves) {
    if (c.openssl_name == name) return &c;
  }
  return nullptr;
}
const Curve* CurveByAlg(JwsAlg alg) {
  for (const Curve& c : kCurves) {
    if (c.alg == alg) return &c;
  }
  return nullptr;
}

const EVP_MD* Digest(JwsAlg alg) {
  switch (alg) {
    case JwsAlg::kRS256:
    case JwsAlg::kPS256:
    case JwsAlg::kES256:
      return EVP_sha256();
    case JwsAlg::kRS384:
    case JwsAlg::kPS384:
    case JwsAlg::kES384:
      return EVP_sha384();
    case JwsAlg::kRS512:
    case JwsAlg::kPS512:
    case JwsAlg::kES512:
      return EVP_sha512();
    case JwsAlg::kEdDSA:
    case JwsAlg::kEd25519:
      return nullptr;
  }
  return nullptr;
}

bool IsPss(JwsAlg alg) {
  return alg == JwsAlg::kPS256 || alg == JwsAlg::kPS384 || alg == JwsAlg::kPS512;
}

JsonValue::Member B64Member(std::string name, std::string_view bytes) {
  return {std::move(name), JsonValue::String(Base64UrlEncode(bytes))};
}

// BnBytes returns `bn` big-endian, left-padded to `len` bytes (0: minimal).
std::string BnBytes(const BIGNUM* bn, size_t len = 0) {
  if (len == 0) len = static_cast<size_t>(BN_num_bytes(bn));
  std::string out(len, '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(len));
  return out;
}

// GetBn reads the BIGNUM parameter `name` of `pkey`, or nullptr.
SecretBnPtr GetBn(const EVP_PKEY* pkey, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1) return nullptr;
  return SecretBnPtr(bn);
}

absl::StatusOr<std::string> DecodeB64Member(const JsonValue& jwk, std::string_view name) {
  const JsonValue* v = jwk.Find(name);
  if (v == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("jwk member \"", std::string(name), "\" is missing"));
  }
  std::string out;
  if (!v->is_string() || !Base64UrlDecode(v->string_value(), &out)) {
    return absl::InvalidArgumentError(
        absl::StrCat("jwk member \"", std::string(name), "\" is not a strict base64url string"));
  }
  return out;
}

SecretBnPtr BytesToBn(std::string_view bytes) {
  return SecretBnPtr(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                               static_cast<int>(bytes.size()), nullptr));
}

PkeyPtr KeypairFromData(const char* type, const OSSL_PARAM_BLD* bld_const) {
  OSSL_PARAM_BLD* bld = const_cast<OSSL_PARAM_BLD*>(bld_const);
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (params == nullptr || ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1) return nullptr;
  EVP_PKEY* pkey = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_KEYPAIR, params.get()) != 1) return nullptr;
  return PkeyPtr(pkey);
}

absl::StatusOr<PkeyPtr> LoadEc(const JsonValue& jwk, const std::string& crv) {
  const Curve* curve = CurveByJwkName(crv);
  if (curve == nullptr) return absl::InvalidArgumentError("jwk member \"crv\" is not supported");
  absl::StatusOr<std::string> x = DecodeB64Member(jwk, "x");
  absl::StatusOr<std::string> y = DecodeB64Member(jwk, "y");
  absl::StatusOr<std::string> d = DecodeB64Member(jwk, "d");
  if (!d.ok()) return d.status();
  if (!x.ok() || !y.ok()) return absl::InternalError("jwk public members vanished");
  // RFC 7518 section 6.2.2.1: d is exactly ceil(log2(n)/8) octets.
  if (d->size() != curve->bytes) {
    return absl::InvalidArgumentError("jwk member \"d\" has the wrong length");
  }
  std::string point = absl::StrCat("\x04", *x, *y);
  SecretBnPtr priv = BytesToBn(*d);
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (priv == nullptr || bld == nullptr ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, curve->openssl_name,
                                      0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, priv.get()) != 1) {
    return absl::InternalError("cannot build EC key parameters");
  }
  PkeyPtr pkey = KeypairFromData("EC", bld.get());
  if (pkey == nullptr) return absl::InvalidArgumentError("jwk member \"d\" is not a usable EC key");
  // 1 <= d < n (the matching of d and the point is proven by Init's round trip).
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (check == nullptr || EVP_PKEY_private_check(check.get()) != 1) {
    return absl::InvalidArgumentError("jwk member \"d\" is out of range");
  }
  return pkey;
}

absl::StatusOr<PkeyPtr> LoadOkp(const JsonValue& jwk) {
  absl::StatusOr<std::string> x = DecodeB64Member(jwk, "x");
  absl::StatusOr<std::string> d = DecodeB64Member(jwk, "d");
  if (!d.ok()) return d.status();
  if (!x.ok()) return absl::InternalError("jwk public members vanished");
  if (d->size() != 32) return absl::InvalidArgumentError("jwk member \"d\" has the wrong length");
  PkeyPtr pkey(EVP_PKEY_new_raw_private_key_ex(
      nullptr, "ED25519", nullptr, reinterpret_cast<const unsigned char*>(d->data()), d->size()));
  if (pkey == nullptr) return absl::InvalidArgumentError("jwk member \"d\" is not an Ed25519 key");
  std::string derived(32, '\0');
  size_t len = derived.size();
  if (EVP_PKEY_get_raw_public_key(pkey.get(), reinterpret_cast<unsigned char*>(derived.data()),
                                  &len) != 1 ||
      len != 32 || derived != *x) {
    return absl::InvalidArgumentError("jwk member \"d\" does not match \"x\"");
  }
  return pkey;
}

absl::StatusOr<PkeyPtr> LoadRsa(const JsonValue& jwk) {
  static constexpr std::pair<const char*, const char*> kMembers[] = {
      {"n", OSSL_PKEY_PARAM_RSA_N},          {"e", OSSL_PKEY_PARAM_RSA_E},
      {"d", OSSL_PKEY_PARAM_RSA_D},          {"p", OSSL_PKEY_PARAM_RSA_FACTOR1},
      {"q", OSSL_PKEY_PARAM_RSA_FACTOR2},    {"dp", OSSL_PKEY_PARAM_RSA_EXPONENT1},
      {"dq", OSSL_PKEY_PARAM_RSA_EXPONENT2}, {"qi", OSSL_PKEY_PARAM_RSA_COEFFICIENT1},
  };
  int crt_present = 0;
  for (const char* name : {"p", "q", "dp", "dq", "qi"}) crt_present += jwk.Find(name) != nullptr;
  if (crt_present != 0 && crt_present != 5) {
    return absl::InvalidArgumentError("jwk has some but not all of p, q, dp, dq, qi");
  }
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr) return absl::InternalError("cannot build RSA key parameters");
  std::vector<SecretBnPtr> values;  // must outlive the parameter build
  // n, e and d always; the CRT values when present (checked above: all five).
  const size_t count = crt_present == 0 ? 3 : std::size(kMembers);
  for (size_t i = 0; i < count; ++i) {
    const auto& [member, param] = kMembers[i];
    absl::StatusOr<std::string> bytes = DecodeB64Member(jwk, member);
    if (!bytes.ok()) return bytes.status();
    values.push_back(BytesToBn(*bytes));
    if (values.back() == nullptr ||
        OSSL_PARAM_BLD_push_BN(bld.get(), param, values.back().get()) != 1) {
      return absl::InternalError("cannot build RSA key parameters");
    }
  }
  PkeyPtr pkey = KeypairFromData("RSA", bld.get());
  if (pkey == nullptr)
    return absl::InvalidArgumentError("jwk private members are not a usable RSA key");
  // With CRT values OpenSSL signs with p, q, dp, dq, qi and never touches d, so
  // the sign/verify round trip in FromJwk cannot catch a wrong d: check the
  // whole key (p, q prime, n = pq, d*e = 1, CRT values) instead.
  if (crt_present == 5) {
    PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
    if (check == nullptr || EVP_PKEY_pairwise_check(check.get()) != 1) {
      return absl::InvalidArgumentError("jwk RSA private members are inconsistent");
    }
  }
  return pkey;
}

}  // namespace

absl::Status PrivateKey::Init() {
  ErrorQueueGuard clear_errors;
  public_members_.clear();
  private_members_.clear();
  EVP_PKEY* pkey = pkey_.get();
  switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_EC: {
      char group[64] = {};
      size_t group_len = 0;
      if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                         &group_len) != 1) {
        return absl::InternalError("cannot read EC group");
      }
      const Curve* curve = CurveByOpenSslName(std::string_view(group, group_len));
      if (curve == nullptr) return absl::InvalidArgumentError("unsupported EC curve");
      SecretBnPtr x = GetBn(pkey, OSSL_PKEY_PARAM_EC_PUB_X);
      SecretBnPtr y = GetBn(pkey, OSSL_PKEY_PARAM_EC_PUB_Y);
      SecretBnPtr d = GetBn(pkey, OSSL_PKEY_PARAM_PRIV_KEY);
      if (x == nullptr || y == nullptr || d == nullptr) {
        return absl::InternalError("cannot export EC key");
      }
      public_members_ = {{"crv", JsonValue::String(std::string(curve->jwk_name))},
                         {"kty", JsonValue::String("EC")},
                         B64Member("x", BnBytes(x.get(), curve->bytes)),
                         B64Member("y", BnBytes(y.get(), curve->bytes))};
      private_members_ = {B64Member("d", BnBytes(d.get(), curve->bytes))};
      break;
    }
    case EVP_PKEY_ED25519: {
      std::string pub(32, '\0'), priv(32, '\0');
      size_t pub_len = 32, priv_len = 32;
      if (EVP_PKEY_get_raw_public_key(pkey, reinterpret_cast<unsigned char*>(pub.data()),
                                      &pub_len) != 1 ||
          EVP_PKEY_get_raw_private_key(pkey, reinterpret_cast<unsigned char*>(priv.data()),
                                       &priv_len) != 1 ||
          pub_len != 32 || priv_len != 32) {
        return absl::InternalError("cannot export Ed25519 key");
      }
      public_members_ = {{"crv", JsonValue::String("Ed25519")},
                         {"kty", JsonValue::String("OKP")},
                         B64Member("x", pub)};
      private_members_ = {B64Member("d", priv)};
      OPENSSL_cleanse(priv.data(), priv.size());
      break;
    }
    case EVP_PKEY_RSA: {
      SecretBnPtr n = GetBn(pkey, OSSL_PKEY_PARAM_RSA_N);
      SecretBnPtr e = GetBn(pkey, OSSL_PKEY_PARAM_RSA_E);
      SecretBnPtr d = GetBn(pkey, OSSL_PKEY_PARAM_RSA_D);
      if (n == nullptr || e == nullptr || d == nullptr) {
        return absl::InternalError("cannot export RSA key");
      }
      public_members_ = {B64Member("e", BnBytes(e.get())),
                         {"kty", JsonValue::String("RSA")},
                         B64Member("n", BnBytes(n.get()))};
      private_members_ = {B64Member("d", BnBytes(d.get()))};
      static constexpr std::pair<const char*, const char*> kCrt[] = {
          {"p", OSSL_PKEY_PARAM_RSA_FACTOR1},       {"q", OSSL_PKEY_PARAM_RSA_FACTOR2},
          {"dp", OSSL_PKEY_PARAM_RSA_EXPONENT1},    {"dq", OSSL_PKEY_PARAM_RSA_EXPONENT2},
          {"qi", OSSL_PKEY_PARAM_RSA_COEFFICIENT1},
      };
      std::vector<JsonValue::Member> crt;
      for (const auto& [member, param] : kCrt) {
        SecretBnPtr v = GetBn(pkey, param);
        if (v == nullptr) break;
        crt.push_back(B64Member(member, BnBytes(v.get())));
      }
      if (crt.size() == 5) {
        for (auto& m : crt) private_members_.push_back(std::move(m));
      }
      break;
    }
    default:
      return absl::InvalidArgumentError("unsupported key type");
  }
  absl::StatusOr<std::shared_ptr<const PublicKey>> pub =
      PublicKey::FromJwk(JsonValue::Object(public_members_));
  if (!pub.ok()) return pub.status();
  public_key_ = *std::move(pub);
  return absl::OkStatus();
}

absl::StatusOr<PrivateKey> PrivateKey::Generate(JwsAlg alg) {
  ErrorQueueGuard clear_errors;
  EVP_PKEY* pkey = nullptr;
  if (const Curve* curve = CurveByAlg(alg); curve != nullptr) {
    pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve->openssl_name);
  } else if (IsEd25519Signature(alg)) {
    pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  } else {
    pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
  }
  if (pkey == nullptr) return absl::InternalError("key generation failed");
  PrivateKey key;
  key.pkey_.reset(pkey);
  absl::Status status = key.Init();
  if (!status.ok()) return status;
  return key;
}

absl::StatusOr<PrivateKey> PrivateKey::FromJwk(const JsonValue& jwk) {
  ErrorQueueGuard clear_errors;
  if (!jwk.is_object()) return absl::InvalidArgumentError("jwk is not an object");
  if (jwk.Find("oth") != nullptr) {
    return absl::InvalidArgumentError("jwk member \"oth\" (multi-prime RSA) is not supported");
  }
  // Validate the public half exactly as a verifier would.
  static constexpr std::string_view kPrivate[] = {"d", "p", "q", "dp", "dq", "qi", "k"};
  std::vector<JsonValue::Member> public_part;
  for (const auto& member : jwk.object_members()) {
    if (std::find(std::begin(kPrivate), std::end(kPrivate), member.first) == std::end(kPrivate)) {
      public_part.push_back(member);
    }
  }
  absl::StatusOr<std::shared_ptr<const PublicKey>> pub =
      PublicKey::FromJwk(JsonValue::Object(std::move(public_part)));
  if (!pub.ok()) return pub.status();

  PrivateKey key;
  key.kid_ = (*pub)->kid();
  absl::StatusOr<PkeyPtr> pkey;
  switch ((*pub)->kty()) {
    case KeyType::kEc:
      pkey = LoadEc(jwk, (*pub)->crv());
      break;
    case KeyType::kOkp:
      pkey = LoadOkp(jwk);
      break;
    case KeyType::kRsa:
      pkey = LoadRsa(jwk);
      break;
  }
  if (!pkey.ok()) return pkey.status();
  key.pkey_ = *std::move(pkey);
  absl::Status status = key.Init();
  if (!status.ok()) return status;
  if (key.Thumbprint() != (*pub)->thumbprint()) {
    return absl::InvalidArgumentError("jwk private key does not match its public members");
  }
  if (const std::optional<std::string>& alg_name = (*pub)->alg(); alg_name.has_value()) {
    std::optional<JwsAlg> alg = ParseJwsAlg(*alg_name);
    if (!alg.has_value() || !key.public_key_->FitsAlg(*alg)) {
      return absl::InvalidArgumentError("jwk member \"alg\" is not a JWS algorithm for this key");
    }
    key.alg_ = alg;
  }
  // Prove that the private value belongs to the public one: a JWK whose d was
  // swapped would otherwise sign tokens nobody can verify.
  JwsAlg test_alg = JwsAlg::kRS256;
  if (key.kty() == KeyType::kOkp) test_alg = JwsAlg::kEdDSA;
  if (key.kty() == KeyType::kEc) test_alg = CurveByJwkName(key.crv())->alg;
  static constexpr std::string_view kProbe = "popguard private key consistency check";
  absl::StatusOr<std::string> sig = key.Sign(test_alg, kProbe);
  if (!sig.ok() || CreateOpenSslVerifier()->Verify(test_alg, *key.public_key_, kProbe, *sig) !=
                       SignatureResult::kValid) {
    return absl::InvalidArgumentError("jwk private members do not match the public key");
  }
  return key;
}

JsonValue PrivateKey::PrivateJwk() const {
  std::vector<JsonValue::Member> members = public_members_;
  members.insert(members.end(), private_members_.begin(), private_members_.end());
  if (!kid_.empty()) members.push_back({"kid", JsonValue::String(kid_)});
  if (alg_.has_value())
    members.push_back({"alg", JsonValue::String(std::string(JwsAlgName(*alg_)))});
  return JsonValue::Object(std::move(members));
}

JsonValue PrivateKey::PublicJwk() const {
  std::vector<JsonValue::Member> members = public_members_;
  if (!kid_.empty()) members.push_back({"kid", JsonValue::String(kid_)});
  if (alg_.has_value())
    members.push_back({"alg", JsonValue::String(std::string(JwsAlgName(*alg_)))});
  members.push_back({"use", JsonValue::String("sig")});
  return JsonValue::Object(std::move(members));
}

JsonValue PrivateKey::RequiredPublicJwk() const { return JsonValue::Object(public_members_); }

absl::StatusOr<std::string> PrivateKey::Sign(JwsAlg alg, std::string_view signing_input) const {
  ErrorQueueGuard clear_errors;
  if (!public_key_->FitsAlg(alg)) {
    return absl::InvalidArgumentError(
        absl::StrCat("key does not fit ", std::string(JwsAlgName(alg))));
  }
  MdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  if (ctx == nullptr ||
      EVP_DigestSignInit(ctx.get(), &pctx, Digest(alg), nullptr, pkey_.get()) != 1) {
    return absl::InternalError("signing setup failed");
  }
  if (IsPss(alg) && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, Digest(alg)) != 1 ||
                     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)) {
    return absl::InternalError("RSA-PSS setup failed");
  }
  const auto* in = reinterpret_cast<const unsigned char*>(signing_input.data());
  size_t len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, in, signing_input.size()) != 1) {
    return absl::InternalError("signing failed");
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in,
                     signing_input.size()) != 1) {
    return absl::InternalError("signing failed");
  }
  sig.resize(len);
  const Curve* curve = CurveByAlg(alg);
  if (curve == nullptr) return sig;
  // ECDSA: OpenSSL produces DER; JWS wants fixed-length R || S.
  const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
  EcdsaSigPtr ecdsa(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())));
  if (ecdsa == nullptr) return absl::InternalError("cannot decode ECDSA signature");
  return absl::StrCat(BnBytes(ECDSA_SIG_get0_r(ecdsa.get()), curve->bytes),
                      BnBytes(ECDSA_SIG_get0_s(ecdsa.get()), curve->bytes));
}

JwsAlg PrivateKey::DefaultAlg() const {
  if (alg_.has_value()) return *alg_;
  switch (kty()) {
    case KeyType::kOkp:
      return JwsAlg::kEdDSA;
    case KeyType::kRsa:
      return JwsAlg::kRS256;
    case KeyType::kEc:
      if (crv() == "P-384") return JwsAlg::kES384;
      if (crv() == "P-521") return JwsAlg::kES512;
      return JwsAlg::kES256;
  }
  return JwsAlg::kES256;
}

absl::StatusOr<std::string> SignCompactJwsRaw(const PrivateKey& key, JwsAlg alg,
                                              std::string_view header_json,
                                              std::string_view payload) {
  std::string out = absl::StrCat(Base64UrlEncode(header_json), ".", Base64UrlEncode(payload));
  absl::StatusOr<std::string> sig = key.Sign(alg, out);
  if (!sig.ok()) return sig.status();
  absl::StrAppend(&out, ".", Base64UrlEncode(*sig));
  return out;
}

absl::StatusOr<std::string> SignCompactJws(const PrivateKey& key, JwsAlg alg,
                                           const JsonValue& header, const JsonValue& payload) {
  return SignCompactJwsRaw(key, alg, SerializeJson(header), SerializeJson(payload));
}

}  // namespace popguard

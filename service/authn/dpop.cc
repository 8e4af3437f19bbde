#include "service/authn/dpop.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "service/common/crypto_util.h"
#include "service/common/strings.h"
#include "service/common/url.h"
#include "service/jose/base64url.h"
#include "service/jose/jwk.h"
#include "service/jose/jws.h"

namespace popguard {
namespace {

Reason FromJwsError(JwsError e) {
  switch (e) {
    case JwsError::kOk:
      return Reason::kOk;
    case JwsError::kMalformed:
      return Reason::kDpopProofMalformed;
    case JwsError::kBadBase64:
      return Reason::kDpopProofBadBase64;
    case JwsError::kBadJson:
      return Reason::kDpopProofBadJson;
    case JwsError::kHeaderInvalid:
    case JwsError::kCritUnsupported:
    case JwsError::kUnencodedPayload:
    case JwsError::kZipUnsupported:
      return Reason::kDpopHeaderInvalid;
  }
  return Reason::kDpopProofMalformed;
}

// Quotes an untrusted value for a denial message, bounded in length.
std::string Shown(std::string_view s) { return JsonQuote(s.substr(0, 256)); }

// The largest RSA proof modulus: 4096 bits, 512 bytes, whose strict base64url
// encoding has 683 characters (684 would decode to 513 bytes).
constexpr size_t kMaxProofRsaModulusChars = 683;
// The one RSA public exponent accepted for proof keys, 65537 in base64url.
constexpr std::string_view kProofRsaExponent = "AQAB";

// CheckProofKeySize bounds what a proof key can cost to verify with: the
// sender picks the key, so an RSA key of 8192 bits with a 64-bit exponent
// would buy eight times the CPU of a normal request. Proof RSA keys must have
// a modulus of 2048..4096 bits (the lower bound is PublicKey::FromJwk's) and
// the exponent 65537: every JOSE and WebCrypto library generates 65537, FIPS
// 186-5 requires e > 2^16, and allowing other small exponents (3, 17) buys no
// client anything. EC and OKP keys have one size per curve. Runs on the JWK
// text before the key is parsed; members that are not strings are left to
// FromJwk (dpop_jwk_invalid).
Reason CheckProofKeySize(const JsonValue& jwk, std::string* detail) {
  const std::string* kty = jwk.FindString("kty");
  if (kty == nullptr || *kty != "RSA") return Reason::kOk;
  const std::string* n = jwk.FindString("n");
  if (n != nullptr && n->size() > kMaxProofRsaModulusChars) {
    *detail = "proof RSA key modulus is longer than 4096 bits";
    return Reason::kDpopJwkSizeUnsupported;
  }
  const std::string* e = jwk.FindString("e");
  if (e != nullptr && *e != kProofRsaExponent) {
    *detail = "proof RSA key public exponent is not 65537";
    return Reason::kDpopJwkSizeUnsupported;
  }
  return Reason::kOk;
}

}  // namespace

bool IsHttpMethodToken(std::string_view s) {
  if (s.empty() || s.size() > 32) return false;
  for (char c : s) {
    if (!(absl::ascii_isalnum(c) ||
          std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos)) {
      return false;
    }
  }
  return true;
}

DpopValidator::DpopValidator(const DpopConfig& config, const LimitsConfig& limits,
                             const SignatureVerifier* verifier, const DpopNonces* nonces,
                             size_t key_cache_entries)
    : config_(config),
      max_proof_bytes_(limits.max_proof_bytes),
      verifier_(verifier),
      nonces_(nonces),
      key_cache_(key_cache_entries) {
  json_limits_.max_depth = limits.max_json_depth;
  std::vector<std::string> names;
  for (const std::string& name : config.algorithms) {
    if (auto alg = ParseJwsAlg(name)) {
      algorithms_.push_back(*alg);
      names.push_back(std::string(JwsAlgName(*alg)));
    }
  }
  algs_param_ = absl::StrJoin(names, " ");
}

Reason DpopValidator::Validate(const DpopRequest& req, DpopResult* out, std::string* detail) const {
  DpopProofCheck check;
  Reason r = Begin(req, &check, detail);
  if (r != Reason::kOk) return r;
  const SignatureCheck sig = check.signature();
  return Complete(check, verifier_->Verify(sig.alg, *sig.key, sig.signing_input, sig.signature),
                  out, detail);
}

Reason DpopValidator::Begin(const DpopRequest& req, DpopProofCheck* check,
                            std::string* detail) const {
  const std::string_view proof = req.proof;
  if (proof.size() > max_proof_bytes_) {
    *detail = absl::StrCat("proof is ", proof.size(), " bytes; limit ", max_proof_bytes_);
    return Reason::kDpopProofTooLarge;
  }
  check->proof.assign(proof);
  Jws& jws = check->jws;
  JwsError jerr = ParseCompactJws(check->proof, json_limits_, &jws, detail);
  if (jerr != JwsError::kOk) {
    *detail = absl::StrCat("proof ", *detail);
    return FromJwsError(jerr);
  }
  const JsonValue& header = jws.header;

  // RFC 9449 4.3 (4): typ is dpop+jwt. Explicit typing keeps an access token
  // or ID token from being replayed as a proof.
  const std::string* typ = header.FindString("typ");
  if (typ == nullptr ||
      !(EqualsIgnoreCase(*typ, "dpop+jwt") || EqualsIgnoreCase(*typ, "application/dpop+jwt"))) {
    *detail = "proof typ must be dpop+jwt";
    return Reason::kDpopTypInvalid;
  }
  // (5): an asymmetric algorithm the server accepts; never none or MAC.
  std::optional<JwsAlg> alg = ParseJwsAlg(jws.alg);
  bool allowed = false;
  if (alg) {
    for (JwsAlg a : algorithms_) allowed = allowed || a == *alg;
  }
  if (!allowed) {
    *detail =
        absl::StrCat("proof alg ", Shown(jws.alg), " is not accepted; accepted: ", algs_param_);
    return Reason::kDpopAlgNotAllowed;
  }
  // (7): the jwk header is a public key; (6): the signature verifies with it.
  const JsonValue* jwk = header.Find("jwk");
  if (jwk == nullptr || !jwk->is_object()) {
    *detail = "proof header jwk is missing or not an object";
    return Reason::kDpopJwkInvalid;
  }
  if (JwkHasPrivateMembers(*jwk)) {
    *detail = "proof jwk contains private key members";
    return Reason::kDpopJwkPrivate;
  }
  // Before the key is parsed (or cached): its size is the cost the sender
  // picks for the signature check.
  if (Reason size = CheckProofKeySize(*jwk, detail); size != Reason::kOk) return size;
  // A returning client's key comes from the cache (keyed by the whole jwk,
  // see proof_key_cache.h); errors are exactly PublicKey::FromJwk's.
  auto key = key_cache_.GetOrParse(*jwk);
  if (!key.ok()) {
    *detail = absl::StrCat("proof jwk: ", key.status().message());
    return Reason::kDpopJwkInvalid;
  }
  if (!(*key)->FitsAlg(*alg)) {
    *detail = absl::StrCat("proof jwk does not fit alg ", AV(JwsAlgName(*alg)));
    return Reason::kDpopJwkInvalid;
  }
  check->alg = *alg;
  check->key = *std::move(key);

  // Binding: the proof key is the key the token was issued to (RFC 9449 6.1).
  // Compared before the signature is verified: a proof under any other key is
  // refused whatever its signature, so a holder of one bound token cannot
  // make popguard verify signatures under keys of its choosing.
  const std::string& jkt = check->key->thumbprint();
  if (!ConstantTimeEquals(jkt, req.expected_jkt)) {
    *detail = absl::StrCat("proof key thumbprint ", jkt, " differs from the token's cnf.jkt ",
                           AV(req.expected_jkt));
    return Reason::kDpopJktMismatch;
  }

  // Claims (8)-(12). They are read before the signature is verified, but
  // nothing is decided in their favour until it is: any claim check failing
  // ends the request without a verification, and a proof passing them all
  // still has to carry a valid signature (Complete).
  const JsonValue& claims = jws.payload;
  const JsonValue* jti = claims.Find("jti");
  const JsonValue* htm = claims.Find("htm");
  const JsonValue* htu = claims.Find("htu");
  const JsonValue* iat = claims.Find("iat");
  if (jti == nullptr || !jti->is_string() || jti->string_value().empty() ||
      jti->string_value().size() > config_.max_jti_bytes) {
    *detail = absl::StrCat("proof jti must be a non-empty string of at most ",
                           config_.max_jti_bytes, " bytes");
    return Reason::kDpopJtiInvalid;
  }
  if (htm == nullptr || !htm->is_string() || htu == nullptr || !htu->is_string() ||
      iat == nullptr || !iat->AsInt64()) {
    *detail = "proof must carry htm and htu strings and a numeric iat";
    return Reason::kDpopClaimsInvalid;
  }
  // htm: method names are case-sensitive (RFC 9110 9.1).
  if (htm->string_value() != req.method) {
    *detail = absl::StrCat("proof htm ", Shown(htm->string_value()), " differs from method ",
                           Shown(req.method));
    return Reason::kDpopHtmMismatch;
  }
  auto proof_url = NormalizeAbsoluteUrl(htu->string_value());
  if (!proof_url.ok()) {
    *detail =
        absl::StrCat("proof htu ", Shown(htu->string_value()), ": ", proof_url.status().message());
    return Reason::kDpopHtuInvalid;
  }
  std::string proof_htu = proof_url->ToString();
  if (proof_htu != req.request_url) {
    // Both URLs are shown so an operator sees at once when a proxy rewrote
    // the scheme, host or path (then set external_origin).
    *detail = absl::StrCat("proof htu ", Shown(proof_htu), " differs from the request URL ",
                           Shown(req.request_url), " as popguard reconstructed it");
    return Reason::kDpopHtuMismatch;
  }
  absl::Time issued = absl::FromUnixSeconds(*iat->AsInt64());
  if (issued < req.now - config_.max_age) {
    *detail = absl::StrCat("proof iat ", absl::ToUnixSeconds(issued), " is older than max_age ",
                           absl::FormatDuration(config_.max_age), "; popguard time ",
                           absl::ToUnixSeconds(req.now));
    return Reason::kDpopIatStale;
  }
  if (issued > req.now + config_.clock_skew) {
    *detail = absl::StrCat("proof iat ", absl::ToUnixSeconds(issued),
                           " is in the future; popguard time ", absl::ToUnixSeconds(req.now),
                           ", skew ", absl::FormatDuration(config_.clock_skew));
    return Reason::kDpopIatFuture;
  }
  // ath (RFC 9449 4.3 (11)): binds the proof to this exact token.
  const JsonValue* ath = claims.Find("ath");
  if (ath == nullptr) {
    *detail = "proof has no ath claim";
    return Reason::kDpopAthMissing;
  }
  std::string token_sha256;
  std::string_view digest = req.access_token_sha256;
  if (digest.size() != 32) {
    token_sha256 = Sha256(req.access_token);
    digest = token_sha256;
  }
  if (!ath->is_string() || !ConstantTimeEquals(ath->string_value(), Base64UrlEncode(digest))) {
    *detail = "proof ath is not the SHA-256 hash of the presented access token";
    return Reason::kDpopAthMismatch;
  }
  if (nonces_ != nullptr && config_.nonce.required) {
    const JsonValue* nonce = claims.Find("nonce");
    if (nonce == nullptr) {
      *detail = "a server nonce is required";
      return Reason::kDpopNonceMissing;
    }
    if (!nonce->is_string() || !nonces_->Accept(nonce->string_value(), req.now)) {
      *detail = "proof nonce is not a current server nonce";
      return Reason::kDpopNonceInvalid;
    }
  }

  DpopResult& result = check->result;
  result.jkt = jkt;
  std::string material = jkt;
  material.push_back('\0');
  material.append(jti->string_value());
  result.replay_key = Sha256(material).substr(0, 16);
  // The proof stays acceptable while iat >= now - max_age, i.e. until
  // iat + max_age by this replica's clock; remember the jti that long plus
  // clock_skew (another replica's clock may trail this one's) plus a second
  // for rounding.
  result.issued_at = issued;
  result.replay_until = issued + config_.max_age + config_.clock_skew + absl::Seconds(1);
  return Reason::kOk;
}

Reason DpopValidator::Complete(const DpopProofCheck& check, SignatureResult signature,
                               DpopResult* out, std::string* detail) const {
  switch (signature) {
    case SignatureResult::kValid:
      *out = check.result;
      return Reason::kOk;
    case SignatureResult::kMalformed:
      *detail = absl::StrCat("proof signature is malformed for ", AV(JwsAlgName(check.alg)));
      return Reason::kDpopSignatureMalformed;
    case SignatureResult::kInvalid:
      *detail = "proof signature does not verify with its jwk";
      return Reason::kDpopSignatureInvalid;
  }
  *detail = "proof signature: unknown verdict";
  return Reason::kDpopSignatureInvalid;
}

}  // namespace popguard

#include "service/authn/access_token.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "service/authn/client_cert.h"
#include "service/common/crypto_util.h"
#include "service/common/strings.h"
#include "service/jose/jws.h"

namespace popguard {
namespace {

Reason FromJwsError(JwsError e) {
  switch (e) {
    case JwsError::kOk:
      return Reason::kOk;
    case JwsError::kMalformed:
      return Reason::kTokenMalformed;
    case JwsError::kBadBase64:
      return Reason::kTokenBadBase64;
    case JwsError::kBadJson:
      return Reason::kTokenBadJson;
    case JwsError::kHeaderInvalid:
      return Reason::kTokenHeaderInvalid;
    case JwsError::kCritUnsupported:
      return Reason::kTokenCritUnsupported;
    case JwsError::kUnencodedPayload:
      return Reason::kTokenUnencodedPayload;
    case JwsError::kZipUnsupported:
      return Reason::kTokenZipUnsupported;
  }
  return Reason::kTokenMalformed;
}

// Reads a NumericDate claim. Returns false when present with the wrong type.
bool ReadTime(const JsonValue& payload, std::string_view name, std::optional<absl::Time>* out) {
  const JsonValue* v = payload.Find(name);
  if (v == nullptr) return true;
  std::optional<int64_t> secs = v->AsInt64();
  if (!secs || *secs < 0) return false;
  *out = absl::FromUnixSeconds(*secs);
  return true;
}

// Renders a claim for an upstream header: strings as they are, integers in
// decimal, booleans, and arrays of strings joined by spaces. Header values must
// not carry control characters, so claims containing them are left out.
std::optional<std::string> RenderClaim(const JsonValue& v) {
  std::string out;
  switch (v.type()) {
    case JsonValue::Type::kString:
      out = v.string_value();
      break;
    case JsonValue::Type::kNumber:
      out = SerializeJson(v);  // integers exact, others shortest round-trip form
      break;
    case JsonValue::Type::kBool:
      out = v.bool_value() ? "true" : "false";
      break;
    case JsonValue::Type::kArray: {
      std::vector<std::string> parts;
      for (const auto& item : v.array_items()) {
        if (!item.is_string()) return std::nullopt;
        parts.push_back(item.string_value());
      }
      out = absl::StrJoin(parts, " ");
      break;
    }
    default:
      return std::nullopt;
  }
  for (unsigned char c : out) {
    if (c < 0x20 || c == 0x7f) return std::nullopt;
  }
  return out;
}

bool IsAtJwtTyp(std::string_view typ) {
  // RFC 9068 section 2.1: "at+jwt"; RFC 7515 4.1.9 allows the
  // "application/" prefix and media types compare case-insensitively.
  return EqualsIgnoreCase(typ, "at+jwt") || EqualsIgnoreCase(typ, "application/at+jwt");
}

// ReadAudience checks that aud (a string or an array of strings) names one
// of `audiences`, those configured for the token's issuer `iss`.
Reason ReadAudience(const JsonValue& payload, const std::vector<std::string>& audiences,
                    std::string_view iss, std::string* detail) {
  auto configured = [&](const std::string& audience) {
    for (const auto& want : audiences) {
      if (audience == want) return true;
    }
    return false;
  };
  const JsonValue* aud = payload.Find("aud");
  bool aud_ok = false;
  if (aud == nullptr) {
    *detail = "aud is missing";
    return Reason::kTokenAudienceMismatch;
  } else if (aud->is_string()) {
    aud_ok = configured(aud->string_value());
  } else if (aud->is_array()) {
    for (const auto& audience : aud->array_items()) {
      if (!audience.is_string()) {
        *detail = "aud array holds a non-string";
        return Reason::kTokenClaimsInvalid;
      }
      aud_ok = aud_ok || configured(audience.string_value());
    }
  } else {
    *detail = "aud is neither a string nor an array";
    return Reason::kTokenClaimsInvalid;
  }
  if (!aud_ok) {
    *detail = absl::StrCat("aud does not include any audience configured for issuer ", AV(iss));
    return Reason::kTokenAudienceMismatch;
  }
  return Reason::kOk;
}

// ReadScopes appends the token's scopes to *scopes: "scope" (RFC 9068 2.2.3,
// space-separated), else "scp" (a space-separated string or an array).
Reason ReadScopes(const JsonValue& payload, std::vector<std::string>* scopes, std::string* detail) {
  if (const JsonValue* scope = payload.Find("scope")) {
    if (!scope->is_string()) {
      *detail = "scope is not a string";
      return Reason::kTokenClaimsInvalid;
    }
    for (absl::string_view s : absl::StrSplit(scope->string_value(), ' ', absl::SkipEmpty())) {
      scopes->emplace_back(s);
    }
  } else if (const JsonValue* scp = payload.Find("scp")) {
    if (scp->is_string()) {
      for (absl::string_view s : absl::StrSplit(scp->string_value(), ' ', absl::SkipEmpty())) {
        scopes->emplace_back(s);
      }
    } else if (scp->is_array()) {
      for (const auto& s : scp->array_items()) {
        if (!s.is_string()) {
          *detail = "scp array holds a non-string";
          return Reason::kTokenClaimsInvalid;
        }
        scopes->push_back(s.string_value());
      }
    } else {
      *detail = "scp is neither a string nor an array";
      return Reason::kTokenClaimsInvalid;
    }
  }
  return Reason::kOk;
}

// ReadCnf reads the confirmation claim into token->cnf_jkt / cnf_x5t.
Reason ReadCnf(const JsonValue& payload, VerifiedToken* token, std::string* detail) {
  const JsonValue* cnf = payload.Find("cnf");
  if (cnf == nullptr) return Reason::kOk;
  // Every binding a token carries must be proven, so cnf may only hold the
  // confirmation methods popguard can prove: jkt (DPoP, RFC 9449 6.1) and
  // x5t#S256 (mTLS, RFC 8705 3.1). Any other method (jwk, kid, jku, x5t,
  // a member spelt differently such as "JKT") or an empty cnf says the
  // token is bound to something popguard cannot check; ignoring it would
  // let the token pass as an unbound bearer token.
  if (!cnf->is_object() || cnf->object_members().empty()) {
    *detail = cnf->is_object() ? "cnf is empty" : "cnf is not an object";
    return Reason::kTokenBindingUnsupported;
  }
  for (const auto& [name, v] : cnf->object_members()) {
    if (name != "jkt" && name != "x5t#S256") {
      *detail = absl::StrCat("cnf holds the confirmation method ", JsonQuote(name.substr(0, 64)),
                             "; popguard can prove only jkt and x5t#S256");
      return Reason::kTokenBindingUnsupported;
    }
    // A binding claim that is present but unusable must not be ignored:
    // ignoring it would turn a bound token into a bearer token.
    if (!v.is_string() || !IsValidThumbprint(v.string_value())) {
      *detail = absl::StrCat("cnf.", name, " is not a 43-character base64url SHA-256 thumbprint");
      return Reason::kTokenClaimsInvalid;
    }
  }
  if (const std::string* s = cnf->FindString("jkt")) token->cnf_jkt = *s;
  if (const std::string* s = cnf->FindString("x5t#S256")) token->cnf_x5t = *s;
  return Reason::kOk;
}

}  // namespace

std::string DescribeTime(absl::Time t) {
  return absl::StrCat(absl::ToUnixSeconds(t), " (",
                      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone()), ")");
}

const std::string* VerifiedToken::ClaimValue(std::string_view name) const {
  for (const auto& [k, v] : claim_values) {
    if (k == name) return &v;
  }
  return nullptr;
}

std::string CacheScope(const Config& config) {
  std::string material = absl::StrCat("skew=", absl::ToInt64Milliseconds(config.clock_skew),
                                      ";depth=", config.limits.max_json_depth, ";claims=");
  for (const UpstreamHeader& h : config.upstream_headers) absl::StrAppend(&material, h.value, ",");
  for (const IssuerConfig& ic : config.issuers) {
    absl::StrAppend(&material, ";iss=", JsonQuote(ic.issuer), ";typ=", ic.require_typ,
                    ";life=", absl::ToInt64Seconds(ic.max_lifetime), ";aud=");
    for (const auto& a : ic.audiences) absl::StrAppend(&material, JsonQuote(a), ",");
    absl::StrAppend(&material, ";alg=");
    for (const auto& a : ic.algorithms) absl::StrAppend(&material, a, ",");
  }
  return Sha256(material).substr(0, 8);
}

AccessTokenValidator::AccessTokenValidator(const Config& config, const IssuerRegistry* issuers,
                                           const SignatureVerifier* verifier,
                                           BoundedCache<VerifiedToken>* shared_cache)
    : clock_skew_(config.clock_skew),
      max_token_bytes_(config.limits.max_token_bytes),
      issuers_(issuers),
      verifier_(verifier),
      owned_cache_(shared_cache == nullptr ? std::make_unique<BoundedCache<VerifiedToken>>(
                                                 config.access_token_cache_entries)
                                           : nullptr),
      cache_(shared_cache != nullptr ? shared_cache : owned_cache_.get()),
      cache_scope_(CacheScope(config)) {
  json_limits_.max_depth = config.limits.max_json_depth;
  for (const UpstreamHeader& h : config.upstream_headers) {
    if (!h.value.empty() && h.value[0] != '@') claims_to_render_.push_back(h.value);
  }
}

Reason AccessTokenValidator::CheckTimes(const VerifiedToken& t, absl::Time now,
                                        std::string* detail) const {
  if (now >= t.exp + clock_skew_) {
    *detail = absl::StrCat("exp ", DescribeTime(t.exp), " has passed; popguard time ",
                           DescribeTime(now), ", skew ", absl::FormatDuration(clock_skew_));
    return Reason::kTokenExpired;
  }
  if (t.nbf && now < *t.nbf - clock_skew_) {
    *detail = absl::StrCat("nbf ", DescribeTime(*t.nbf), " is in the future; popguard time ",
                           DescribeTime(now), ", skew ", absl::FormatDuration(clock_skew_));
    return Reason::kTokenNotYetValid;
  }
  if (t.iat && *t.iat > now + clock_skew_) {
    *detail = absl::StrCat("iat ", DescribeTime(*t.iat), " is in the future; popguard time ",
                           DescribeTime(now), ", skew ", absl::FormatDuration(clock_skew_));
    return Reason::kTokenIatInFuture;
  }
  return Reason::kOk;
}

bool AccessTokenValidator::KeyStillTrusted(const VerifiedToken& t) const {
  const Issuer* issuer = issuers_->Find(t.issuer);
  if (issuer == nullptr) return false;
  std::shared_ptr<const KeySet> keys = issuer->keys->Current();
  // Same set object as at verification (always so for static keys).
  if (!t.key_set.owner_before(keys) && !keys.owner_before(t.key_set)) return true;
  for (const auto& k : keys->keys()) {
    if (k->thumbprint() == t.key_thumbprint) return true;
  }
  return false;
}

Reason AccessTokenValidator::Validate(std::string_view token, absl::Time now,
                                      std::shared_ptr<const VerifiedToken>* out,
                                      std::string* detail, KeyMiss* miss,
                                      std::unique_ptr<TokenSignatureCheck>* pending) {
  if (token.size() > max_token_bytes_) {
    *detail = absl::StrCat("token is ", token.size(), " bytes; limit ", max_token_bytes_);
    return Reason::kTokenTooLarge;
  }
  std::string hash = Sha256(token);
  std::string cache_key = cache_scope_ + hash;
  // Cache hit: the signature and the time-independent claims were verified
  // for these exact bytes (SHA-256 collision resistance makes the hash a
  // safe key); only the time checks can change, so they run again.
  // Keys can also leave: a key the issuer removed from its JWKS (or that
  // popguard stopped trusting after max_stale) must stop vouching for tokens
  // at once, so a hit whose key is gone is validated again from scratch.
  if (auto hit = cache_->Get(cache_key, now); hit != nullptr && KeyStillTrusted(*hit)) {
    Reason r = CheckTimes(*hit, now, detail);
    if (r != Reason::kOk) return r;
    *out = std::move(hit);
    return Reason::kOk;
  }
  auto check = std::make_unique<TokenSignatureCheck>();
  check->token.assign(token);
  check->token_hash = std::move(hash);
  Reason r = Begin(check.get(), detail, miss);
  if (r != Reason::kOk) return r;
  if (pending != nullptr) {
    *pending = std::move(check);
    return Reason::kOk;
  }
  const SignatureCheck sig = check->signature();
  return Complete(*check, verifier_->Verify(sig.alg, *sig.key, sig.signing_input, sig.signature),
                  now, out, detail);
}

Reason AccessTokenValidator::Begin(TokenSignatureCheck* check, std::string* detail,
                                   KeyMiss* miss) const {
  Jws& jws = check->jws;
  JwsError jerr = ParseCompactJws(check->token, json_limits_, &jws, detail);
  if (jerr != JwsError::kOk) return FromJwsError(jerr);
  const JsonValue& header = jws.header;
  const JsonValue& payload = jws.payload;

  // Keys come only from configuration. A header that names its own key or a
  // URL to fetch one from is the classic key-substitution attack; popguard
  // never follows it, and refuses the token outright so the attempt is
  // visible under its own reason code.
  for (const char* member : {"jku", "x5u", "x5c", "jwk"}) {
    if (header.Find(member) != nullptr) {
      *detail =
          absl::StrCat("token header carries ", member, "; keys come only from the issuer's JWKS");
      return Reason::kTokenEmbeddedKey;
    }
  }
  if (EqualsIgnoreCase(jws.alg, "none")) {
    *detail = "alg none is never accepted";
    return Reason::kTokenAlgNone;
  }
  // ParseJwsAlg knows only asymmetric algorithms: HMAC with a JWKS issuer
  // would let anyone holding the public key (everyone) mint tokens.
  std::optional<JwsAlg> alg = ParseJwsAlg(jws.alg);
  if (!alg) {
    *detail = absl::StrCat("alg ", jws.alg, " is not an accepted signature algorithm");
    return Reason::kTokenAlgNotAllowed;
  }

  const std::string* typ = header.FindString("typ");
  const std::string* iss = payload.FindString("iss");
  if (iss == nullptr) {
    *detail = "iss is missing or not a string";
    return Reason::kTokenIssuerUnknown;
  }
  const Issuer* issuer = issuers_->Find(*iss);
  if (issuer == nullptr) {
    *detail = absl::StrCat("iss ", JsonQuote(iss->substr(0, 200)), " is not a configured issuer");
    return Reason::kTokenIssuerUnknown;
  }
  if (!issuer->AllowsAlg(*alg)) {
    *detail = absl::StrCat("alg ", jws.alg, " is not in the allowlist of issuer ", *iss);
    return Reason::kTokenAlgNotAllowed;
  }
  if (issuer->config.require_typ) {
    if (typ == nullptr || !IsAtJwtTyp(*typ)) {
      *detail = absl::StrCat("typ must be at+jwt for issuer ", *iss);
      return Reason::kTokenTypInvalid;
    }
  } else if (typ != nullptr && ToLower(*typ).find("dpop+jwt") != std::string::npos) {
    // A DPoP proof is never an access token (explicit typing, RFC 8725 3.11).
    *detail = "typ dpop+jwt is a DPoP proof, not an access token";
    return Reason::kTokenTypInvalid;
  }

  // kid is only ever an exact map key: it is never a path, URL or query.
  const std::string* kid = header.FindString("kid");
  std::shared_ptr<const KeySet> keys = issuer->keys->Current();
  KeySelection sel = keys->Select(kid ? std::optional<std::string_view>(*kid) : std::nullopt, *alg);
  switch (sel.outcome) {
    case KeySelection::Outcome::kFound:
      break;
    case KeySelection::Outcome::kKidAlgMismatch:
      *detail = absl::StrCat("key kid=", JsonQuote(kid->substr(0, 100)), " of issuer ", *iss,
                             " does not fit alg ", jws.alg);
      return Reason::kTokenKeyAlgMismatch;
    case KeySelection::Outcome::kKidNotFound:
      *detail = absl::StrCat("no key kid=", JsonQuote(kid ? kid->substr(0, 100) : ""),
                             " for issuer ", *iss);
      if (miss != nullptr) *miss = KeyMiss{issuer, kid ? kid->substr(0, 100) : ""};
      return Reason::kTokenKeyNotFound;
    case KeySelection::Outcome::kNoKeyFitsAlg:
    case KeySelection::Outcome::kAmbiguous:
      *detail = absl::StrCat("token has no kid and issuer ", *iss,
                             " does not have exactly one key for alg ", jws.alg);
      // A refresh can bring the one missing key; it cannot resolve ambiguity.
      if (miss != nullptr && sel.outcome == KeySelection::Outcome::kNoKeyFitsAlg) {
        *miss = KeyMiss{issuer, ""};
      }
      return Reason::kTokenKeyNotFound;
  }
  check->alg = *alg;
  check->issuer = issuer;
  check->keys = std::move(keys);
  check->key = std::move(sel.key);
  return Reason::kOk;
}

Reason AccessTokenValidator::Complete(const TokenSignatureCheck& check, SignatureResult signature,
                                      absl::Time now, std::shared_ptr<const VerifiedToken>* out,
                                      std::string* detail) {
  const Jws& jws = check.jws;
  const JsonValue& payload = jws.payload;
  const Issuer* issuer = check.issuer;
  const std::string* iss = payload.FindString("iss");  // Begin found it
  const std::string* kid = jws.header.FindString("kid");
  switch (signature) {
    case SignatureResult::kValid:
      break;
    case SignatureResult::kMalformed:
      *detail = absl::StrCat("signature is malformed for ", jws.alg);
      return Reason::kTokenSignatureMalformed;
    case SignatureResult::kInvalid:
      *detail = absl::StrCat("signature does not verify with key kid=", JsonQuote(check.key->kid()),
                             " of issuer ", *iss);
      return Reason::kTokenSignatureInvalid;
  }

  // --- Claims: only trusted from here on, the signature is good. ---
  auto vt = std::make_shared<VerifiedToken>();
  vt->issuer = *iss;
  vt->kid = kid ? *kid : "";
  vt->token_hash = check.token_hash;
  vt->key_thumbprint = check.key->thumbprint();
  vt->key_set = check.keys;

  const JsonValue* exp_v = payload.Find("exp");
  if (exp_v == nullptr) {
    *detail = "exp is required";
    return Reason::kTokenExpMissing;
  }
  std::optional<absl::Time> exp;
  if (!ReadTime(payload, "exp", &exp) || !ReadTime(payload, "nbf", &vt->nbf) ||
      !ReadTime(payload, "iat", &vt->iat)) {
    *detail = "exp, nbf and iat must be non-negative numbers";
    return Reason::kTokenClaimsInvalid;
  }
  vt->exp = *exp;

  if (Reason reason = ReadAudience(payload, issuer->config.audiences, *iss, detail);
      reason != Reason::kOk) {
    return reason;
  }

  for (const char* name : {"sub", "client_id", "jti"}) {
    const JsonValue* v = payload.Find(name);
    if (v != nullptr && !v->is_string()) {
      *detail = absl::StrCat(name, " is not a string");
      return Reason::kTokenClaimsInvalid;
    }
  }
  if (const std::string* s = payload.FindString("sub")) vt->subject = *s;
  if (const std::string* s = payload.FindString("client_id")) vt->client_id = *s;
  if (const std::string* s = payload.FindString("jti")) vt->jti = *s;
  if (const std::string* s = payload.FindString("azp")) vt->azp = *s;

  if (Reason reason = ReadScopes(payload, &vt->scopes, detail); reason != Reason::kOk) {
    return reason;
  }

  if (Reason reason = ReadCnf(payload, vt.get(), detail); reason != Reason::kOk) return reason;

  if (issuer->config.max_lifetime > absl::ZeroDuration()) {
    if (!vt->iat) {
      *detail = "iat is required to check max_lifetime";
      return Reason::kTokenClaimsInvalid;
    }
    if (vt->exp - *vt->iat > issuer->config.max_lifetime) {
      *detail =
          absl::StrCat("exp - iat is ", absl::FormatDuration(vt->exp - *vt->iat),
                       "; issuer max_lifetime ", absl::FormatDuration(issuer->config.max_lifetime));
      return Reason::kTokenLifetimeTooLong;
    }
  }

  for (const std::string& claim : claims_to_render_) {
    if (const JsonValue* v = payload.Find(claim)) {
      if (auto rendered = RenderClaim(*v)) vt->claim_values.emplace_back(claim, *rendered);
    }
  }

  Reason r = CheckTimes(*vt, now, detail);
  if (r != Reason::kOk) return r;
  std::shared_ptr<const VerifiedToken> result = std::move(vt);
  cache_->Put(cache_scope_ + result->token_hash, result, result->exp + clock_skew_);
  *out = std::move(result);
  return Reason::kOk;
}

}  // namespace popguard
